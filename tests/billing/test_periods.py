"""Period: a calendar month in UTC, half-open."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given

from billing.statements import Period
from tests.billing.fuzz import FUZZ
from tests.billing.strategies import periods


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (date(2026, 2, 1), date(2026, 3, 1), 28),
        (date(2024, 2, 1), date(2024, 3, 1), 29),
        (date(2000, 2, 1), date(2000, 3, 1), 29),  # divisible by 400: leap
        (date(2100, 2, 1), date(2100, 3, 1), 28),  # divisible by 100 only: not leap
        (date(2026, 4, 1), date(2026, 5, 1), 30),
        (date(2026, 1, 1), date(2026, 2, 1), 31),
        (date(2026, 12, 1), date(2027, 1, 1), 31),
    ],
)
def test_a_period_is_a_calendar_month(start, end, days):
    period = Period(start, end)
    assert period.seconds == days * 86_400
    assert period.starts_at == datetime(start.year, start.month, 1, tzinfo=UTC)
    assert period.ends_at == datetime(end.year, end.month, 1, tzinfo=UTC)
    assert str(period) == f"{start:%Y-%m}"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 2, 2), date(2026, 3, 2)),
        (date(2026, 2, 1), date(2026, 3, 2)),
        (date(2026, 2, 1), date(2026, 4, 1)),
        (date(2026, 12, 1), date(2026, 1, 1)),
        (datetime(2026, 2, 1, tzinfo=UTC), date(2026, 3, 1)),
    ],
)
def test_anything_but_a_calendar_month_is_refused(start, end):
    with pytest.raises(ValueError, match="calendar month"):
        Period(start, end)


def test_containing_takes_the_utc_month_of_an_instant():
    december = Period(date(2026, 12, 1), date(2027, 1, 1))
    assert Period.containing(datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)) == december
    assert Period.containing(datetime(2027, 1, 1, tzinfo=UTC)) == december.next()
    # 00:30 on 1 January in UTC+1 is still December in UTC.
    plus_one = timezone(timedelta(hours=1))
    assert Period.containing(datetime(2027, 1, 1, 0, 30, tzinfo=plus_one)) == december
    with pytest.raises(ValueError, match="timezone-aware"):
        Period.containing(datetime(2026, 12, 5))  # noqa: DTZ001 (the naive one is the point)


def test_next_crosses_the_year():
    assert Period(date(2026, 12, 1), date(2027, 1, 1)).next() == Period(
        date(2027, 1, 1), date(2027, 2, 1)
    )


@FUZZ
@given(periods())
def test_periods_tile_time(period):
    following = period.next()
    assert following.start == period.end
    assert Period.containing(period.ends_at - timedelta(microseconds=1)) == period
    assert Period.containing(period.ends_at) == following
    assert period.seconds == (period.ends_at - period.starts_at).total_seconds()
