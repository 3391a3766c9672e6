"""Microseconds per `statement_for` call: the pure core the billing clock runs per period.

Three histories in March 2026: an untouched one (active all month, one plan, two add-ons:
what most subscriptions look like when the clock closes them), a typical one (2 plan
terms, 3 add-on lines, 6 state changes with two pauses mid-period) and a long one (1,000
state changes alternating active and paused across the month). Each is timed closing the
period (`until` = period end), the last two also as a mid-period preview. No database:
this is the arithmetic alone. Figures are the best of several runs in process CPU time,
beside a fixed yardstick (``sum(range(1000))``) to compare machines by.

    python benchmarks/bench_statement.py [--quick]
"""

from __future__ import annotations

import argparse
import time
import timeit
from datetime import UTC, date, datetime, timedelta

from common import emit

from billing.statements import (
    AddonTerm,
    BillingHistory,
    Period,
    PlanTerm,
    StateChange,
    statement_for,
)

PERIOD = Period(date(2026, 3, 1), date(2026, 4, 1))
CREATED = datetime(2026, 1, 14, 9, 30, 12, 345678, tzinfo=UTC)


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, 17, 250000, tzinfo=UTC)


def plans() -> tuple[PlanTerm, ...]:
    return (
        PlanTerm(CREATED, 11, "studio", 1, 4900, "USD", "Studio"),
        PlanTerm(at(17, 12), 12, "studio", 2, 5900, "USD", "Studio"),
    )


def addons() -> tuple[AddonTerm, ...]:
    return (
        AddonTerm(101, "storage_50gb", "Storage 50 GB", 750, "USD", CREATED, None),
        AddonTerm(102, "seats_5", "5 seats", 2500, "USD", at(3, 8), at(25, 18)),
        AddonTerm(103, "gpu_hours", "GPU hours", 9900, "USD", at(20, 6), None),
    )


def typical() -> BillingHistory:
    states = (
        StateChange(CREATED, "trial"),
        StateChange(CREATED + timedelta(days=14), "active"),
        StateChange(at(5, 10), "paused"),
        StateChange(at(8, 16), "active"),
        StateChange(at(21, 3), "past_due"),
        StateChange(at(23, 9), "active"),
    )
    return BillingHistory(1, "d1", "USD", CREATED, states, plans(), addons())


def untouched() -> BillingHistory:
    states = (StateChange(CREATED, "active"),)
    both = (
        AddonTerm(101, "storage_50gb", "Storage 50 GB", 750, "USD", CREATED, None),
        AddonTerm(104, "backups", "Daily backups", 500, "USD", CREATED, None),
    )
    return BillingHistory(3, "d3", "USD", CREATED, states, plans()[:1], both)


def long_history(changes: int = 1_000) -> BillingHistory:
    step = (PERIOD.ends_at - PERIOD.starts_at) / changes
    states = tuple(
        StateChange(PERIOD.starts_at + step * i + timedelta(microseconds=123), state)
        for i, state in enumerate(("active", "paused") * (changes // 2))
    )
    states = (StateChange(CREATED, "active"), *states[1:])
    return BillingHistory(2, "d2", "USD", CREATED, states, plans(), addons())


def per_call_us(history: BillingHistory, until: datetime, number: int, repeat: int) -> float:
    """The best of ``repeat`` runs, in this process's CPU time: other load on a shared
    machine slows a run down, it never speeds one up, so the minimum is the figure."""
    timer = timeit.Timer(lambda: statement_for(history, PERIOD, until), timer=time.process_time)
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    repeat = 5 if args.quick else 15
    cases = [
        ("untouched, closing", untouched(), PERIOD.ends_at, 20_000),
        ("typical, closing", typical(), PERIOD.ends_at, 20_000),
        ("typical, preview at the 19th", typical(), at(19, 12), 20_000),
        ("1,000 state changes, closing", long_history(), PERIOD.ends_at, 200),
        ("1,000 state changes, preview at the 19th", long_history(), at(19, 12), 200),
    ]
    # A fixed yardstick, so that figures from machines of different speeds compare.
    yardstick = (
        min(timeit.Timer("sum(range(1000))", timer=time.process_time).repeat(repeat, 2_000))
        / 2_000
        * 1e6
    )
    print(f"{'yardstick: sum(range(1000))':<42} {yardstick:10.2f} µs")
    result = {"yardstick_sum_range_1000_us": round(yardstick, 2)}
    for label, history, until, number in cases:
        lines = len(statement_for(history, PERIOD, until).lines)
        us = per_call_us(history, until, number // (4 if args.quick else 1), repeat)
        result[label] = round(us, 2)
        print(f"{label:<42} {us:10.2f} µs per call  ({lines} lines)")
    emit({"statement_for_us": result})


if __name__ == "__main__":
    main()
