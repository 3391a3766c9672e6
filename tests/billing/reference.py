"""An independent statement calculation, written from the rules rather than the code.

Straightforward on purpose: every instant becomes a breakpoint, billability is decided
afresh for each elementary interval between breakpoints by replaying the whole history,
and the money is computed with ``Fraction`` and Python's ``round`` (half to even). It
shares no code with ``billing.statements`` or ``arcadia_cloud.money``.
"""

from __future__ import annotations

import calendar
import itertools
from datetime import UTC, datetime
from fractions import Fraction

BILLABLE = {"active", "past_due", "suspended"}
ENDING = {"cancelled", "archived"}


def whole_seconds(instant: datetime) -> int:
    # timetuple() drops the microseconds: the floor, also before 1970.
    return calendar.timegm(instant.astimezone(UTC).timetuple())


def billable_at(history, second: int) -> bool:
    """Is the deployment billed during ``second``, replaying its history from the start?"""
    state = None
    for change in history.states:
        if whole_seconds(change.at) > second:
            continue
        if change.state in ENDING:
            return False
        state = change.state
    return state in BILLABLE


def largest_remainder(total: int, weights: list[int]) -> list[int]:
    shares = [Fraction(total * w, sum(weights)) for w in weights]
    parts = [share.numerator // share.denominator for share in shares]
    fractions = [share - part for share, part in zip(shares, parts, strict=True)]
    order = sorted(range(len(weights)), key=lambda i: (-fractions[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def reference_lines(history, period, until) -> list[tuple]:
    """``(kind, code, plan_version, addon_line_id, price, start, end, amount)`` per line,
    start and end in epoch seconds."""
    period_start = calendar.timegm(period.start.timetuple())
    period_end = calendar.timegm(period.end.timetuple())
    period_seconds = period_end - period_start
    lo = max(period_start, whole_seconds(history.starts_at))
    hi = min(period_end, whole_seconds(until))
    if lo >= hi:
        return []

    every_instant = [c.at for c in history.states] + [p.since for p in history.plans]
    for addon in history.addons:
        every_instant.append(addon.attached_at)
        if addon.detached_at is not None:
            every_instant.append(addon.detached_at)
    points = sorted({lo, hi} | {s for s in map(whole_seconds, every_instant) if lo < s < hi})
    intervals = [(a, b, billable_at(history, a)) for a, b in itertools.pairwise(points)]

    segments = []
    for index, term in enumerate(history.plans):
        begin = whole_seconds(term.since)
        end = (
            whole_seconds(history.plans[index + 1].since) if index + 1 < len(history.plans) else hi
        )
        segments.append(("plan", term.plan_code, term.version, None, term.price_cents, begin, end))
    for addon in sorted(history.addons, key=lambda a: a.line_id):
        begin = whole_seconds(addon.attached_at)
        end = hi if addon.detached_at is None else whole_seconds(addon.detached_at)
        segments.append(("addon", addon.code, None, addon.line_id, addon.price_cents, begin, end))

    lines = []
    for kind, code, version, line_id, price, begin, end in segments:
        pieces: list[list[int]] = []
        for a, b, billed in intervals:
            if not billed or a < begin or b > end:
                continue
            if pieces and pieces[-1][1] == a:
                pieces[-1][1] = b
            else:
                pieces.append([a, b])
        seconds = [b - a for a, b in pieces]
        if not pieces:
            continue
        amount = round(Fraction(price * sum(seconds), period_seconds))
        for (a, b), part in zip(pieces, largest_remainder(amount, seconds), strict=True):
            lines.append((kind, code, version, line_id, price, a, b, part))
    return lines
