"""statement_for on worked examples: the rules of SPEC §6 with figures checked by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from billing.statements import (
    AddonTerm,
    BillingHistory,
    Line,
    Period,
    PlanTerm,
    StateChange,
    statement_for,
)
from tests.billing.strategies import utc

FEBRUARY = Period(date(2026, 2, 1), date(2026, 3, 1))  # 28 days: 2,419,200 s
CREATED = utc(2026, 1, 10, 9, 15, 30)


def studio(since=CREATED, price=1999, version=1, currency="USD"):
    return PlanTerm(since, 40 + version, "studio", version, price, currency, f"Studio v{version}")


def storage(line_id=7, attached=CREATED, detached=None, price=750, currency="USD"):
    return AddonTerm(line_id, "storage_50gb", "Storage 50 GB", price, currency, attached, detached)


def history(states, plans=None, addons=(), currency="USD", starts_at=CREATED):
    return BillingHistory(
        subscription_id=3,
        deployment_id="dep-3",
        currency=currency,
        starts_at=starts_at,
        states=tuple(StateChange(at, state) for at, state in states),
        plans=tuple([studio()] if plans is None else plans),
        addons=tuple(addons),
    )


def amounts(statement):
    return [line.amount_cents for line in statement.lines]


def test_a_whole_month_bills_exactly_plan_and_addons():
    h = history([(CREATED, "active")], addons=[storage()])
    statement = statement_for(h, FEBRUARY, FEBRUARY.ends_at)
    assert amounts(statement) == [1999, 750]
    assert statement.total_cents == 2749
    assert statement.as_dict() == {
        "id": None,
        "subscription_id": 3,
        "period_start": "2026-02-01",
        "period_end": "2026-03-01",
        "currency": "USD",
        "lines": [
            {
                "kind": "plan",
                "code": "studio",
                "description": "Studio v1",
                "plan_version": 1,
                "unit_price_cents": 1999,
                "starts_at": "2026-02-01T00:00:00Z",
                "ends_at": "2026-03-01T00:00:00Z",
                "amount_cents": 1999,
            },
            {
                "kind": "addon",
                "code": "storage_50gb",
                "description": "Storage 50 GB",
                "addon_line_id": 7,
                "unit_price_cents": 750,
                "starts_at": "2026-02-01T00:00:00Z",
                "ends_at": "2026-03-01T00:00:00Z",
                "amount_cents": 750,
            },
        ],
        "total_cents": 2749,
        "closed_at": None,
    }


def test_a_pause_splits_each_segment_into_pieces_rounded_once():
    # Paused from the 10th at 12:00 (plus 0.5 ms, truncated) to the 12th: 26.5 days billed.
    h = history(
        [
            (CREATED, "active"),
            (utc(2026, 2, 10, 12, 0, 0, 500), "paused"),
            (utc(2026, 2, 12), "active"),
        ],
        addons=[storage()],
    )
    statement = statement_for(h, FEBRUARY, FEBRUARY.ends_at)
    # Plan: 1999 x 26.5/28 = 1891.89 -> 1892, split 9.5 : 17 days -> 678.26 : 1213.74.
    # Add-on: 750 x 26.5/28 = 709.82 -> 710, split -> 254.72 : 455.28 -> 255 : 455.
    assert amounts(statement) == [678, 1214, 255, 455]
    assert statement.total_cents == 2602
    assert [(line.starts_at, line.ends_at) for line in statement.lines[:2]] == [
        (utc(2026, 2, 1), utc(2026, 2, 10, 12)),
        (utc(2026, 2, 12), utc(2026, 3, 1)),
    ]


def test_trial_and_paused_time_is_not_billed_and_past_due_and_suspended_are():
    h = history(
        [
            (CREATED, "trial"),
            (utc(2026, 2, 8), "active"),  # 7 days of trial in February
            (utc(2026, 2, 15), "past_due"),
            (utc(2026, 2, 20), "suspended"),
            (utc(2026, 2, 22), "active"),
        ],
        plans=[studio(price=2800)],
    )
    statement = statement_for(h, FEBRUARY, FEBRUARY.ends_at)
    # One piece from the 8th to the end: past_due and suspended do not split it.
    assert [(line.starts_at, line.ends_at, line.amount_cents) for line in statement.lines] == [
        (utc(2026, 2, 8), utc(2026, 3, 1), 2100)  # 2800 x 21/28
    ]


def test_cancellation_ends_billing_for_good_even_if_the_history_goes_on():
    h = history(
        [
            (CREATED, "active"),
            (utc(2026, 2, 8), "cancelled"),
            (utc(2026, 2, 9), "active"),  # odd: nothing after a cancellation is billed
            (utc(2026, 2, 10), "archived"),
            (utc(2026, 2, 11), "past_due"),
        ],
        plans=[studio(price=2800)],
    )
    statement = statement_for(h, FEBRUARY, FEBRUARY.ends_at)
    assert [(line.ends_at, line.amount_cents) for line in statement.lines] == [
        (utc(2026, 2, 8), 700)
    ]


def test_a_plan_change_bills_each_version_for_its_time():
    h = history(
        [(CREATED, "active")],
        plans=[
            studio(price=2800),
            studio(since=utc(2026, 2, 15, 0, 0, 0, 999_999), price=5600, version=2),
        ],
    )
    statement = statement_for(h, FEBRUARY, FEBRUARY.ends_at)
    assert [(line.plan_version, line.amount_cents) for line in statement.lines] == [
        (1, 1400),
        (2, 2800),
    ]
    assert statement.lines[1].starts_at == utc(2026, 2, 15)  # truncated to the second


def test_addons_bill_from_attach_to_detach_and_are_ordered_by_line_id():
    h = history(
        [(CREATED, "active")],
        plans=[studio(price=0)],
        addons=[
            storage(line_id=9, attached=utc(2026, 2, 22), price=2800),
            storage(line_id=2, attached=CREATED, detached=utc(2026, 2, 8), price=2800),
            storage(line_id=5, attached=utc(2026, 3, 2), price=2800),  # after the period
        ],
    )
    statement = statement_for(h, FEBRUARY, FEBRUARY.ends_at)
    assert [(line.kind, line.addon_line_id, line.amount_cents) for line in statement.lines] == [
        ("plan", None, 0),
        ("addon", 2, 700),
        ("addon", 9, 700),
    ]


@pytest.mark.parametrize(
    ("price", "amount"),
    [(1, 0), (3, 2), (5, 2), (7, 4)],  # half of an odd price: to the even neighbour
)
def test_an_exact_half_rounds_to_even_in_a_currency_without_minor_units(price, amount):
    h = history(
        [(CREATED, "active"), (utc(2026, 2, 15), "paused")],
        plans=[studio(price=price, currency="JPY")],
        currency="JPY",
    )
    assert amounts(statement_for(h, FEBRUARY, FEBRUARY.ends_at)) == [amount]


def test_bhd_amounts_are_in_fils():
    h = history(
        [(CREATED, "active"), (utc(2026, 2, 8), "paused")],
        plans=[studio(price=12_345, currency="BHD")],
        currency="BHD",
    )
    assert amounts(statement_for(h, FEBRUARY, FEBRUARY.ends_at)) == [3086]  # 12.345 / 4


def test_nothing_is_billed_before_the_subscription_or_after_until():
    starts = utc(2026, 2, 22, 0, 0, 0, 400_000)
    h = history([(starts, "active")], plans=[studio(since=starts, price=2800)], starts_at=starts)
    assert amounts(statement_for(h, FEBRUARY, FEBRUARY.ends_at)) == [700]
    assert amounts(statement_for(h, FEBRUARY, utc(2026, 2, 25))) == [300]  # a preview
    assert statement_for(h, FEBRUARY, utc(2026, 2, 22)).lines == ()
    assert statement_for(h, FEBRUARY, utc(2026, 1, 31)).total_cents == 0
    # March has 31 days: 2800 x 14/31 = 1264.52.
    assert statement_for(h, FEBRUARY.next(), utc(2026, 3, 15)).total_cents == 1265
    assert statement_for(h, Period(date(2026, 1, 1), date(2026, 2, 1)), utc(2026, 9, 1)).lines == ()


def test_a_pause_within_one_second_leaves_one_piece():
    h = history(
        [
            (CREATED, "active"),
            (utc(2026, 2, 14, 10, 0, 5, 200_000), "paused"),
            (utc(2026, 2, 14, 10, 0, 5, 800_000), "active"),
        ],
    )
    statement = statement_for(h, FEBRUARY, FEBRUARY.ends_at)
    assert len(statement.lines) == 1
    assert statement.total_cents == 1999


def test_timestamps_before_1970_truncate_to_the_earlier_second():
    period = Period(date(1969, 12, 1), date(1970, 1, 1))
    created = utc(1969, 11, 1)
    h = history(
        [(created, "active"), (utc(1969, 12, 31, 23, 59, 59, 500_000), "paused")],
        plans=[studio(since=created, price=period.seconds)],
        starts_at=created,
    )
    (line,) = statement_for(h, period, period.ends_at).lines
    assert line.ends_at == utc(1969, 12, 31, 23, 59, 59)
    assert line.amount_cents == period.seconds - 1


def test_line_seconds_and_dict_shape_of_an_addon_line():
    line = Line("addon", "gpu", "GPU", None, 12, 300, utc(2026, 2, 1), utc(2026, 2, 1, 1), 5)
    assert line.seconds == 3600
    assert line.as_dict() == {
        "kind": "addon",
        "code": "gpu",
        "description": "GPU",
        "addon_line_id": 12,
        "unit_price_cents": 300,
        "starts_at": "2026-02-01T00:00:00Z",
        "ends_at": "2026-02-01T01:00:00Z",
        "amount_cents": 5,
    }


def test_a_history_out_of_shape_is_refused():
    with pytest.raises(ValueError, match="sorted"):
        statement_for(
            history(
                [(CREATED, "active"), (utc(2026, 2, 9), "paused"), (utc(2026, 2, 8), "active")]
            ),
            FEBRUARY,
            FEBRUARY.ends_at,
        )
    with pytest.raises(ValueError, match="unknown deployment state 'frozen'"):
        statement_for(history([(CREATED, "frozen")]), FEBRUARY, FEBRUARY.ends_at)
    with pytest.raises(ValueError, match="priced in EUR, the subscription in USD"):
        statement_for(
            history([(CREATED, "active")], addons=[storage(currency="EUR")]),
            FEBRUARY,
            FEBRUARY.ends_at,
        )
    with pytest.raises(ValueError, match="negative price"):
        statement_for(
            history([(CREATED, "active")], plans=[studio(price=-1)]), FEBRUARY, FEBRUARY.ends_at
        )
    with pytest.raises(ValueError, match="timezone-aware"):
        statement_for(
            history([(CREATED, "active")]), FEBRUARY, FEBRUARY.ends_at.replace(tzinfo=None)
        )
    with pytest.raises(ValueError, match="plan terms must be sorted"):
        statement_for(
            history(
                [(CREATED, "active")], plans=[studio(since=utc(2026, 2, 9)), studio(version=2)]
            ),
            FEBRUARY,
            FEBRUARY.ends_at,
        )


def test_a_history_with_no_state_or_no_plan_bills_what_it_has():
    assert statement_for(history([]), FEBRUARY, FEBRUARY.ends_at).lines == ()
    no_plan = statement_for(
        history([(CREATED, "active")], plans=[], addons=[storage()]), FEBRUARY, FEBRUARY.ends_at
    )
    assert amounts(no_plan) == [750]


def test_a_long_history_is_billed_in_its_pieces():
    states = [(CREATED, "active")]
    for hour in range(0, 28 * 24, 2):
        at = utc(2026, 2, 1) + timedelta(hours=hour)
        states += [(at + timedelta(minutes=30), "paused"), (at + timedelta(hours=1), "active")]
    statement = statement_for(
        history(states, plans=[studio(price=10_000)]), FEBRUARY, FEBRUARY.ends_at
    )
    assert len(statement.lines) == 28 * 12 + 1
    # Billed 1.5 h of every 2 h: three quarters of the price, to the cent.
    assert statement.total_cents == 7500
