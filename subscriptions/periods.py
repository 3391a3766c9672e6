"""Billing-period arithmetic. Periods are half-open `[start, end)` dates in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime


def month_period(day: date) -> tuple[date, date]:
    """The calendar month containing `day`: (1st of that month, 1st of the next).

    December rolls over to January of the next year; month lengths (28, 29, 30
    or 31 days) never matter because both ends are 1sts.
    """
    start = day.replace(day=1)
    end = date(start.year + 1, 1, 1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def current_month_period(now: datetime | None = None) -> tuple[date, date]:
    """The calendar month of `now` (default: the current time) in UTC."""
    moment = (now or datetime.now(tz=UTC)).astimezone(UTC)
    return month_period(moment.date())
