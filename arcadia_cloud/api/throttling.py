"""Per-token rate limits, shared by every worker through the database.

A fixed-window counter per (token, read|write): one upsert per request
(`INSERT ... ON CONFLICT DO UPDATE ... RETURNING hits`), atomic under
concurrency, so the limit holds across processes and machines without a cache
server. Django's DatabaseCache would need a read and a write (3+ queries, and
a lost update under concurrency) for the same count.

Rates come from `ARCADIA_THROTTLE_READ` (GET, HEAD, OPTIONS) and
`ARCADIA_THROTTLE_WRITE` (everything else): "<n>/<second|minute|hour|day>",
or "off" to disable (no query at all).
"""

from __future__ import annotations

import math
import time
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from arcadia_cloud.models import ThrottleBucket

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_OFF = {"", "off", "none", "0", "false", "disabled"}


@lru_cache(maxsize=32)
def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """ "300/min" -> (300, 60); "off" -> None."""
    if rate is None or str(rate).strip().lower() in _OFF:
        return None
    try:
        count, period = str(rate).strip().lower().split("/")
        limit, seconds = int(count), _PERIODS[period.strip()[0]]
    except (ValueError, KeyError, IndexError):
        raise ImproperlyConfigured(
            f"Bad throttle rate {rate!r}: use '<n>/<second|minute|hour|day>' or 'off'."
        ) from None
    if limit < 1:
        raise ImproperlyConfigured(f"Bad throttle rate {rate!r}: the count must be positive.")
    return limit, seconds


_TABLE = ThrottleBucket._meta.db_table
_UPSERT = f"""
INSERT INTO {_TABLE} (bucket, window_index, hits) VALUES (%s, %s, 1)
ON CONFLICT (bucket) DO UPDATE SET
    hits = CASE WHEN excluded.window_index > {_TABLE}.window_index
                THEN 1 ELSE {_TABLE}.hits + 1 END,
    window_index = CASE WHEN excluded.window_index > {_TABLE}.window_index
                        THEN excluded.window_index ELSE {_TABLE}.window_index END
RETURNING hits
"""


def seconds_to_wait(token, method: str) -> int | None:
    """Count this request against `token`'s budget; None when it may proceed,
    else the seconds until the window resets (for `Retry-After`)."""
    if token is None:
        return None
    is_read = method in SAFE_METHODS
    rate = parse_rate(
        settings.ARCADIA_THROTTLE_READ if is_read else settings.ARCADIA_THROTTLE_WRITE
    )
    if rate is None:
        return None
    limit, period = rate
    now = time.time()
    window = int(now // period)
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, [f"{token.pk}:{'r' if is_read else 'w'}", window])
        hits = cursor.fetchone()[0]
    if hits <= limit:
        return None
    return max(1, math.ceil((window + 1) * period - now))


class TokenRateThrottle(BaseThrottle):
    """DRF throttle keyed by the API token (request.auth); anonymous requests
    are refused by authentication before throttling."""

    def allow_request(self, request, view) -> bool:
        # A POST with an Idempotency-Key was already counted by the idempotency
        # middleware, before it opened the transaction the view runs in.
        if getattr(request, "arcadia_throttle_counted", False):
            return True
        self._wait = seconds_to_wait(request.auth, request.method)
        return self._wait is None

    def wait(self) -> int | None:
        return self._wait
