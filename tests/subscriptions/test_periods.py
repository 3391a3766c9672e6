"""Billing periods are half-open calendar months in UTC."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from subscriptions.periods import current_month_period, month_period


@pytest.mark.parametrize(
    ("day", "start", "end"),
    [
        (date(2026, 3, 15), date(2026, 3, 1), date(2026, 4, 1)),
        (date(2026, 3, 1), date(2026, 3, 1), date(2026, 4, 1)),
        (date(2026, 3, 31), date(2026, 3, 1), date(2026, 4, 1)),
        # December rolls over into January of the next year
        (date(2026, 12, 1), date(2026, 12, 1), date(2027, 1, 1)),
        (date(2026, 12, 31), date(2026, 12, 1), date(2027, 1, 1)),
        # leap year: February 2028 has 29 days, and the end is still March 1st
        (date(2028, 2, 29), date(2028, 2, 1), date(2028, 3, 1)),
        (date(2028, 2, 1), date(2028, 2, 1), date(2028, 3, 1)),
        (date(2027, 2, 28), date(2027, 2, 1), date(2027, 3, 1)),
        (date(2028, 1, 31), date(2028, 1, 1), date(2028, 2, 1)),
    ],
)
def test_month_period_is_the_calendar_month(day, start, end):
    assert month_period(day) == (start, end)


def test_period_is_half_open_and_covers_every_day_once():
    # walking two years day by day, every day falls in exactly its own month's
    # period and consecutive periods touch without overlapping
    day = date(2027, 1, 1)
    while day < date(2029, 1, 1):
        start, end = month_period(day)
        assert start <= day < end
        assert month_period(end)[0] == end
        assert month_period(end - timedelta(days=1)) == (start, end)
        day += timedelta(days=1)
    assert (month_period(date(2028, 2, 10))[1] - month_period(date(2028, 2, 10))[0]).days == 29
    assert (month_period(date(2027, 2, 10))[1] - month_period(date(2027, 2, 10))[0]).days == 28


def test_current_period_uses_utc_not_local_time():
    # 23:30 on Dec 31st in New York is already January 1st in UTC
    new_york = timezone(timedelta(hours=-5))
    moment = datetime(2026, 12, 31, 23, 30, tzinfo=new_york)
    assert current_month_period(moment) == (date(2027, 1, 1), date(2027, 2, 1))
    # and 00:30 on Jan 1st in Tokyo is still December in UTC
    tokyo = timezone(timedelta(hours=9))
    moment = datetime(2027, 1, 1, 0, 30, tzinfo=tokyo)
    assert current_month_period(moment) == (date(2026, 12, 1), date(2027, 1, 1))


def test_current_period_defaults_to_now():
    today = datetime.now(tz=UTC).date()
    start, end = current_month_period()
    assert start == today.replace(day=1)
    assert start <= today < end
