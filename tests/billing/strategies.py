"""Hypothesis strategies for billing histories, and the run length for property tests.

Instants cluster where bugs live: on period boundaries (exactly, and a microsecond or a
second either side), in the middle of the period, and anywhere from 45 days before the
period to 45 days after, always with microseconds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import strategies as st

from billing.statements import AddonTerm, BillingHistory, Period, PlanTerm, StateChange

BILLABLE = ("active", "past_due", "suspended")
UNBILLED = ("trial", "paused")
ENDING = ("cancelled", "archived")
STATES = BILLABLE + UNBILLED + ENDING
# Exponents 2, 0, 0, 3, 3, 0, 4, 2: cents, none, fils, and CLF's ten-thousandths.
CURRENCIES = ("USD", "JPY", "KRW", "BHD", "KWD", "CLP", "CLF", "EUR")

DAY_US = 86_400 * 10**6


@st.composite
def periods(draw) -> Period:
    """Any month of 1999..2101: 28-, 29-, 30- and 31-day months, Decembers, 2000 (leap) and
    2100 (not leap) among them."""
    year = draw(st.one_of(st.sampled_from([2000, 2024, 2025, 2100]), st.integers(1999, 2101)))
    month = draw(st.one_of(st.sampled_from([2, 12]), st.integers(1, 12)))
    start = date(year, month, 1)
    return Period(start, date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1))


def instants(period: Period) -> st.SearchStrategy[datetime]:
    middle = period.starts_at + (period.ends_at - period.starts_at) / 2
    anchors = st.sampled_from([period.starts_at, period.ends_at, middle])
    offsets = st.one_of(
        st.just(0),
        st.sampled_from([-1, 1, -1_000_000, 1_000_000, 999_999, -999_999]),
        st.integers(-45 * DAY_US, 45 * DAY_US),
    )
    return st.builds(lambda base, us: base + timedelta(microseconds=us), anchors, offsets)


def prices() -> st.SearchStrategy[int]:
    return st.one_of(
        st.sampled_from([0, 1, 2, 3, 750, 1999, 4900, 19900, 150_000]),
        st.integers(0, 10**9),
    )


@st.composite
def histories(draw, period: Period, max_changes: int = 12) -> BillingHistory:
    """A random history around ``period``, odd ones included: states in any order of the
    seven (also after a cancellation), plan changes at any instant, add-ons attached before
    the subscription or after, detached or not, line ids not in order."""
    instant = instants(period)
    currency = draw(st.sampled_from(CURRENCIES))
    starts_at = draw(instant)

    later = st.builds(lambda t: max(t, starts_at), instant)
    change_times = sorted(draw(st.lists(later, max_size=max_changes)))
    first = draw(st.sampled_from(["active", "trial", "active", "paused"]))
    states = (
        StateChange(starts_at, first),
        *(StateChange(at, draw(st.sampled_from(STATES))) for at in change_times),
    )

    plan_times = sorted(draw(st.lists(later, max_size=3)))
    plans = tuple(
        PlanTerm(
            since=since,
            plan_version_id=100 + number,
            plan_code="studio",
            version=number,
            price_cents=draw(prices()),
            currency=currency,
            description=f"Studio v{number}",
        )
        for number, since in enumerate([starts_at, *plan_times], start=1)
    )

    line_ids = draw(st.lists(st.integers(1, 10_000), unique=True, max_size=4))
    addons = []
    for line_id in line_ids:
        attached = draw(instant)
        not_before = st.builds(lambda t, attached=attached: max(t, attached), instant)
        detached = draw(st.one_of(st.none(), not_before))
        addons.append(
            AddonTerm(
                line_id=line_id,
                code=f"addon_{line_id}",
                description=f"Add-on {line_id}",
                price_cents=draw(prices()),
                currency=currency,
                attached_at=attached,
                detached_at=detached,
            )
        )
    return BillingHistory(
        subscription_id=draw(st.integers(1, 10**6)),
        deployment_id="dep",
        currency=currency,
        starts_at=starts_at,
        states=states,
        plans=plans,
        addons=tuple(addons),
    )


@st.composite
def pausing_histories(draw, period: Period) -> BillingHistory:
    """Many pauses: up to 60 changes alternating billable and paused within ``period``."""
    history = draw(histories(period=period, max_changes=0))
    times = sorted(
        draw(
            st.lists(
                st.integers(0, period.seconds * 10**6 - 1), min_size=1, max_size=60, unique=True
            )
        )
    )
    pairs = []
    for index, offset in enumerate(times):
        state = draw(st.sampled_from(BILLABLE)) if index % 2 else "paused"
        at = max(period.starts_at + timedelta(microseconds=offset), history.starts_at)
        pairs.append(StateChange(at, state))
    return BillingHistory(
        subscription_id=history.subscription_id,
        deployment_id=history.deployment_id,
        currency=history.currency,
        starts_at=history.starts_at,
        states=(StateChange(history.starts_at, "active"), *pairs),
        plans=history.plans,
        addons=history.addons,
    )


def previous(period: Period) -> Period:
    return Period.containing(period.starts_at - timedelta(days=1))


@st.composite
def cases(draw) -> tuple[BillingHistory, Period]:
    """A history and the period to bill: mostly the month it was drawn around, sometimes
    the month after or before (a history mostly in the past, or mostly to come)."""
    around = draw(periods())
    history = draw(st.one_of(histories(around), pausing_histories(around)))
    period = draw(st.sampled_from([around, around, around, around.next(), previous(around)]))
    return history, period


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
