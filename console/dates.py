"""How the console writes an instant: "2026-12-01 14:03 UTC", and beside it the
time relative to now ("3 days ago", "in 2 hours"), in the largest whole unit,
with the unit's plural only when the count is not 1."""

from __future__ import annotations

from datetime import UTC, date, datetime

_UNITS = (
    ("year", 365 * 86400),
    ("month", 30 * 86400),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
)


def plural(count: int, singular: str, many: str | None = None) -> str:
    """`1 day`, `0 days`, `2 days` (`many` for irregular plurals)."""
    return f"{count:,} {singular if count == 1 else (many or singular + 's')}"


def utc_text(value: datetime | date) -> str:
    """`2026-12-01 14:03 UTC` (a date alone: `2026-12-01`)."""
    if not isinstance(value, datetime):
        return value.isoformat()
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def relative(value: datetime, now: datetime) -> str:
    """`3 days ago`, `in 2 hours`, `just now` (under a minute either way)."""
    seconds = (now - value).total_seconds()
    span = abs(seconds)
    for unit, size in _UNITS:
        if span >= size:
            text = plural(int(span // size), unit)
            return f"{text} ago" if seconds > 0 else f"in {text}"
    return "just now"


def whole_days(value: datetime, now: datetime) -> int:
    """Whole days from `value` to `now` (0 on the first day)."""
    return max(0, int((now - value).total_seconds() // 86400))
