"""When a failed delivery is tried again, and when the worker gives up.

The schedule (SPEC §7): about 5 s, 5 min, 30 min, 2 h, 5 h, then every 10 h,
each ±20% (jitter spreads the retries of an endpoint that was down for
everyone). A delivery is retried until an attempt fails at least
`RETRY_WINDOW` (3 days) after it was scheduled, then marked failed: with this
schedule that is about 13 attempts over 3 to 3.5 days. 429 and 503 answers
with `Retry-After` (seconds or an HTTP date) are retried when the receiver
asked, within [1 s, 10 h]. An endpoint whose attempts have all failed for
`DISABLE_AFTER` (3 days) is disabled.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

SCHEDULE_SECONDS: tuple[float, ...] = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600)
JITTER = 0.2
RETRY_WINDOW = timedelta(days=3)
DISABLE_AFTER = timedelta(days=3)
RETRY_AFTER_MIN_SECONDS = 1.0
RETRY_AFTER_MAX_SECONDS = SCHEDULE_SECONDS[-1]
#: Statuses whose Retry-After header is honoured.
RETRY_AFTER_STATUSES = frozenset({429, 503})
#: The receiver says the endpoint is gone for good.
GONE_STATUS = 410


def backoff_seconds(attempts: int, *, rng: random.Random | None = None) -> float:
    """The delay after the `attempts`-th failed attempt (1-based), jittered."""
    base = SCHEDULE_SECONDS[min(max(attempts, 1), len(SCHEDULE_SECONDS)) - 1]
    return base * (rng or random).uniform(1 - JITTER, 1 + JITTER)


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """A Retry-After header as seconds from `now`, clamped to [1 s, 10 h];
    None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        seconds = float(int(value[:12]))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        seconds = (when - now).total_seconds()
    return min(max(seconds, RETRY_AFTER_MIN_SECONDS), RETRY_AFTER_MAX_SECONDS)


def gives_up(*, scheduled_at: datetime, now: datetime) -> bool:
    """True when a failed attempt ends the delivery (the window is over)."""
    return now - scheduled_at >= RETRY_WINDOW
