"""Properties of statement_for over random histories and periods (Hypothesis).

The strategies (strategies.py) draw months of every length, Decembers and leap years,
instants with microseconds on and around period boundaries, many pauses, plan changes,
add-ons attached and detached mid-period, cancellations followed by odd events, and
currencies with exponents 0, 2, 3 and 4.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta

from hypothesis import assume, given
from hypothesis import strategies as st

from arcadia_cloud.money import prorate
from billing.statements import PlanTerm, StateChange, statement_for
from tests.billing.fuzz import FUZZ
from tests.billing.reference import reference_lines, whole_seconds
from tests.billing.strategies import (
    BILLABLE,
    CURRENCIES,
    ENDING,
    UNBILLED,
    cases,
    instants,
    periods,
    prices,
)


def as_tuples(statement) -> list[tuple]:
    return [
        (
            line.kind,
            line.code,
            line.plan_version,
            line.addon_line_id,
            line.unit_price_cents,
            whole_seconds(line.starts_at),
            whole_seconds(line.ends_at),
            line.amount_cents,
        )
        for line in statement.lines
    ]


def by_segment(statement) -> dict[tuple, list]:
    segments = defaultdict(list)
    for line in statement.lines:
        key = ("plan", line.plan_version) if line.kind == "plan" else ("addon", line.addon_line_id)
        segments[key].append(line)
    return segments


def segment_amounts(statement) -> dict[tuple, int]:
    return {
        key: sum(line.amount_cents for line in lines)
        for key, lines in by_segment(statement).items()
    }


@st.composite
def case_and_until(draw):
    history, period = draw(cases())
    until = draw(st.one_of(instants(period), st.just(period.ends_at)))
    return history, period, until


# given: any history, period and `until`


@FUZZ
@given(case_and_until())
def test_matches_the_independent_calculation(case):
    history, period, until = case
    statement = statement_for(history, period, until)
    assert as_tuples(statement) == reference_lines(history, period, until)


@FUZZ
@given(case_and_until())
def test_amounts_are_never_negative_and_the_total_is_their_sum(case):
    history, period, until = case
    statement = statement_for(history, period, until)
    assert all(line.amount_cents >= 0 for line in statement.lines)
    assert statement.total_cents == sum(line.amount_cents for line in statement.lines) >= 0
    assert statement.currency == history.currency
    assert (statement.period_start, statement.period_end) == (period.start, period.end)


@FUZZ
@given(case_and_until())
def test_lines_are_whole_seconds_inside_the_period_and_in_order(case):
    history, period, until = case
    statement = statement_for(history, period, until)
    lo = max(period.starts_at, history.starts_at.replace(microsecond=0))
    for line in statement.lines:
        assert line.starts_at.microsecond == line.ends_at.microsecond == 0
        assert lo <= line.starts_at < line.ends_at <= min(period.ends_at, until)
    kinds = [line.kind for line in statement.lines]
    assert kinds == sorted(kinds, key=["plan", "addon"].index)
    plan_starts = [line.starts_at for line in statement.lines if line.kind == "plan"]
    assert plan_starts == sorted(plan_starts)
    addons = [
        (line.addon_line_id, line.starts_at) for line in statement.lines if line.kind == "addon"
    ]
    assert addons == sorted(addons)


@FUZZ
@given(case_and_until())
def test_the_pieces_of_a_segment_sum_to_one_rounding_of_its_seconds(case):
    history, period, until = case
    for lines in by_segment(statement_for(history, period, until)).values():
        seconds = sum(line.seconds for line in lines)
        price = lines[0].unit_price_cents
        assert sum(line.amount_cents for line in lines) == prorate(price, seconds, period.seconds)
        for earlier, later in itertools.pairwise(lines):
            assert earlier.ends_at < later.starts_at  # pieces are separated by unbilled time


@FUZZ
@given(case_and_until(), st.data())
def test_splitting_plan_terms_moves_the_total_by_at_most_one_per_split(case, data):
    history, period, until = case
    before = statement_for(history, period, until).total_cents
    plans = list(history.plans)
    splits = data.draw(st.lists(instants(period), min_size=1, max_size=3))
    for number, at in enumerate(splits, start=1):
        at = max(at, plans[0].since)
        index = bisect.bisect_right([term.since for term in plans], at)
        in_force = plans[index - 1]
        # The same price under another version: only the rounding may differ.
        plans.insert(index, replace(in_force, since=at, version=1000 + number))
    after = statement_for(replace(history, plans=tuple(plans)), period, until).total_cents
    assert abs(after - before) <= len(splits)


@FUZZ
@given(case_and_until(), st.data())
def test_an_event_that_keeps_billability_changes_nothing_billed(case, data):
    history, period, until = case
    before = statement_for(history, period, until)
    states = list(history.states)
    at = max(data.draw(instants(period)), states[0].at)
    index = bisect.bisect_right([change.at for change in states], at)
    current = states[index - 1].state
    same_kind = next(kind for kind in (BILLABLE, UNBILLED, ENDING) if current in kind)
    states.insert(index, StateChange(at, data.draw(st.sampled_from(same_kind))))
    after = statement_for(replace(history, states=tuple(states)), period, until)
    assert after.total_cents == before.total_cents
    assert segment_amounts(after) == segment_amounts(before)
    assert [(line.starts_at, line.ends_at) for line in after.lines] == [
        (line.starts_at, line.ends_at) for line in before.lines
    ]


@FUZZ
@given(cases(), st.integers(0, 400 * 86_400 * 10**6))
def test_until_past_the_period_end_is_clamped(case, later_us):
    history, period = case
    at_end = statement_for(history, period, period.ends_at)
    assert (
        statement_for(history, period, period.ends_at + timedelta(microseconds=later_us)) == at_end
    )


def known_at(history, now):
    """The history as it stood at ``now``: later events not yet happened."""
    return replace(
        history,
        states=tuple(change for change in history.states if change.at < now),
        plans=tuple(term for term in history.plans if term.since < now),
        addons=tuple(
            replace(addon, detached_at=None if addon.detached_at >= now else addon.detached_at)
            if addon.detached_at is not None
            else addon
            for addon in history.addons
            if addon.attached_at < now
        ),
    )


@FUZZ
@given(case_and_until())
def test_nothing_from_until_on_is_read(case):
    history, period, until = case
    assume(until > history.starts_at)
    assert statement_for(known_at(history, until), period, until) == statement_for(
        history, period, until
    )


@FUZZ
@given(cases(), st.data())
def test_a_preview_equals_the_statement_when_nothing_changes(case, data):
    history, period = case
    opened = max(history.starts_at, period.starts_at)
    assume(opened < period.ends_at)
    room_us = (period.ends_at - opened) // timedelta(microseconds=1)
    now = opened + timedelta(microseconds=data.draw(st.integers(0, room_us - 1)))
    known = known_at(history, now)
    preview = statement_for(known, period, period.ends_at)  # "up to its end, no change"
    closed_late = now + timedelta(days=data.draw(st.integers(0, 90)))
    closed_at = max(closed_late, period.ends_at)  # the clock runs at or after the end
    assert statement_for(known, period, closed_at) == preview


@FUZZ
@given(case_and_until(), st.data())
def test_more_time_never_lowers_a_segment(case, data):
    history, period, until = case
    earlier = statement_for(history, period, until)
    later_until = until + timedelta(microseconds=data.draw(st.integers(0, 40 * 86_400 * 10**6)))
    later = statement_for(history, period, later_until)
    longer = segment_amounts(later)
    for key, amount in segment_amounts(earlier).items():
        assert longer[key] >= amount


@FUZZ
@given(case_and_until(), st.data())
def test_billing_a_pause_or_cancellation_never_lowers_a_segment(case, data):
    history, period, until = case
    unbilled = [i for i, change in enumerate(history.states) if change.state not in BILLABLE]
    assume(unbilled)
    index = data.draw(st.sampled_from(unbilled))
    states = list(history.states)
    states[index] = replace(states[index], state="active")
    more = segment_amounts(statement_for(replace(history, states=tuple(states)), period, until))
    for key, amount in segment_amounts(statement_for(history, period, until)).items():
        assert more[key] >= amount


@st.composite
def untouched(draw):
    """Active all period: created (maybe in trial) before it, plan changes and add-ons all
    attached before it, add-ons detached only after it."""
    period = draw(periods())
    currency = draw(st.sampled_from(CURRENCIES))
    before = st.integers(0, 90 * 86_400 * 10**6).map(
        lambda us: period.starts_at - timedelta(microseconds=us)
    )
    created = draw(before)
    went_active = draw(st.one_of(st.just(created), before.filter(lambda t: t >= created)))
    states = [StateChange(created, "trial" if went_active > created else "active")]
    if went_active > created:
        states.append(StateChange(went_active, "active"))
    sinces = sorted([created, *draw(st.lists(before.filter(lambda t: t >= created), max_size=2))])
    plans = tuple(
        PlanTerm(since, 10 + n, "studio", n, draw(prices()), currency, "Studio")
        for n, since in enumerate(sinces, start=1)
    )
    history, _ = draw(cases())
    addons = tuple(
        replace(
            addon,
            currency=currency,
            attached_at=draw(before),
            detached_at=draw(
                st.one_of(
                    st.none(),
                    st.builds(lambda d: period.ends_at + timedelta(days=d), st.integers(0, 30)),
                )
            ),
        )
        for addon in history.addons
    )
    history = replace(
        history,
        currency=currency,
        starts_at=created,
        states=tuple(states),
        plans=plans,
        addons=addons,
    )
    return history, period


@FUZZ
@given(untouched(), st.integers(0, 60 * 86_400 * 10**6))
def test_an_untouched_subscription_bills_exactly_plan_plus_addons(case, late_us):
    history, period = case
    statement = statement_for(history, period, period.ends_at + timedelta(microseconds=late_us))
    expected = history.plans[-1].price_cents + sum(addon.price_cents for addon in history.addons)
    assert statement.total_cents == expected
    assert len(statement.lines) == 1 + len(history.addons)
    for line in statement.lines:
        assert (line.starts_at, line.ends_at) == (period.starts_at, period.ends_at)
        assert line.amount_cents == line.unit_price_cents
