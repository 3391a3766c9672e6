"""What a subscription owes for one period: ``statement_for``, a pure function of its history.

Closing a period and previewing the open one both call ``statement_for`` (no database, no
clock: everything it knows is in its arguments), so a preview and the statement it becomes
agree to the minor unit when nothing changes in between.

The rules
---------
- A period is a calendar month in UTC, half-open: ``[1st 00:00, 1st of next month 00:00)``.
- Billable time is the time the deployment spends in ``active``, ``past_due`` or
  ``suspended``. ``trial`` and ``paused`` are not billed. ``cancelled`` and ``archived`` end
  billing for good: nothing after the first of them is billed, whatever the history says
  next. Before the first state change (the deployment's creation) nothing is billed.
- Only ``[max(period start, subscription start), min(period end, until))`` counts: nothing
  before the subscription existed, nothing after ``until`` (a preview's "now", or the
  period end when closing; a later ``until`` is clamped to the period end).
- Each *segment* is billed for its billable seconds: a plan term (the plan version in
  force from its ``since`` to the next term's) or an add-on line (from ``attached_at`` to
  ``detached_at``, open if not detached).
  ``amount = price x billable_seconds / seconds_in_period``, rounded half to even
  (``money.prorate``). A segment billable for the whole period bills exactly its price.
- A segment that pauses split into several *pieces* (maximal runs of billable seconds)
  gets one line per piece. The segment is rounded once, and that amount is split over its
  pieces by their seconds with ``money.allocate`` (largest remainder): the pieces sum to
  exactly what one line over the same seconds would bill, and each piece is within one
  minor unit of its own exact share.
- Lines: plan lines in time order, then add-on lines by line id, each in time order.
  Segments or pieces with no billable second give no line. ``total_cents`` is the sum.

Time is counted in whole seconds
--------------------------------
Every instant (state changes, plan terms, add-on attach/detach, subscription start,
``until``) is truncated to the whole second before anything is compared, and the lines'
``starts_at``/``ends_at`` are those truncated instants, so anyone recomputing an amount from
a line (``unit_price_cents x (ends_at - starts_at) / seconds_in_period``) uses the seconds
billed. Changes within the same second therefore bill nothing between them (a pause that
ends in the second it started leaves one piece, not two).

Rounding bound
--------------
Each segment rounds once, with an error of at most half a minor unit. Splitting one
segment into two at an instant (say a plan change to a version with the same price)
changes the total by at most 1 minor unit per extra segment: ``round(x1) + round(x2)``
and ``round(x1 + x2)`` differ by less than 1.5, and being integers, by at most 1. Events
that do not change billability (``active`` -> ``past_due`` -> ``suspended``) do not create
pieces and never change the total.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from operator import attrgetter
from typing import Any, Literal

from arcadia_cloud.money import allocate, prorate

BILLABLE_STATES = frozenset({"active", "past_due", "suspended"})
UNBILLED_STATES = frozenset({"trial", "paused"})
ENDING_STATES = frozenset({"cancelled", "archived"})

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def _seconds(instant: datetime) -> int:
    """Whole seconds since the epoch, truncated (floored): the unit statements bill in."""
    try:
        return (instant - _EPOCH) // _SECOND
    except TypeError:
        raise ValueError(f"{instant!r} is not a timezone-aware datetime") from None


def _instant(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)  # exact for an int


@lru_cache(maxsize=1 << 16)
def _iso(instant: datetime) -> str:
    # Cached: a statement's lines share their bounds (every piece of the plan
    # and of each add-on starts or ends at the same few instants, most at the
    # period's own), and formatting costs more than the lookup. Every line
    # instant is made in UTC here (`_instant`, `Period`), so equal instants
    # format alike.
    return instant.isoformat().replace("+00:00", "Z")


def _first_of_next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar month in UTC, half-open ``[start, end)``; ``end`` is the next 1st."""

    start: date
    end: date
    starts_at: datetime = field(init=False, repr=False, compare=False)
    ends_at: datetime = field(init=False, repr=False, compare=False)
    seconds: int = field(init=False, repr=False, compare=False)
    # The bounds in epoch seconds, computed once: statement_for reads them on every call.
    _start_s: int = field(init=False, repr=False, compare=False)
    _end_s: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (
            isinstance(self.start, datetime)
            or isinstance(self.end, datetime)
            or self.start.day != 1
            or self.end != _first_of_next_month(self.start)
        ):
            raise ValueError(
                f"A period is a calendar month [1st, 1st of next month), "
                f"not [{self.start}, {self.end})"
            )
        starts_at = datetime(self.start.year, self.start.month, 1, tzinfo=UTC)
        ends_at = datetime(self.end.year, self.end.month, 1, tzinfo=UTC)
        object.__setattr__(self, "starts_at", starts_at)
        object.__setattr__(self, "ends_at", ends_at)
        object.__setattr__(self, "seconds", (self.end - self.start).days * 86_400)
        object.__setattr__(self, "_start_s", _seconds(starts_at))
        object.__setattr__(self, "_end_s", _seconds(ends_at))

    @classmethod
    def containing(cls, instant: datetime) -> Period:
        """The month, in UTC, that ``instant`` (timezone-aware) falls in."""
        if instant.utcoffset() is None:
            raise ValueError(f"{instant!r} is not a timezone-aware datetime")
        utc = instant.astimezone(UTC)
        start = date(utc.year, utc.month, 1)
        return cls(start, _first_of_next_month(start))

    def next(self) -> Period:
        return month(self.end, _first_of_next_month(self.end))

    def __str__(self) -> str:
        return f"{self.start:%Y-%m}"


@lru_cache(maxsize=4096)
def month(start: date, end: date) -> Period:
    """``Period(start, end)``, built once per month: a period is immutable, and the clock
    asks for the same few months for every subscription it closes."""
    return Period(start, end)


@dataclass(frozen=True, slots=True)
class StateChange:
    """The deployment is in ``state`` from ``at`` until the next change."""

    at: datetime
    state: str


@dataclass(frozen=True, slots=True)
class PlanTerm:
    """The plan version in force from ``since`` until the next term's ``since``."""

    since: datetime
    plan_version_id: int
    plan_code: str
    version: int
    price_cents: int
    currency: str
    description: str


@dataclass(frozen=True, slots=True)
class AddonTerm:
    """An add-on line, billed from ``attached_at`` until ``detached_at`` (None: still on)."""

    line_id: int
    code: str
    description: str
    price_cents: int
    currency: str
    attached_at: datetime
    detached_at: datetime | None


@dataclass(frozen=True, slots=True)
class BillingHistory:
    """Everything a statement depends on, for one subscription.

    ``states`` are the deployment's state changes sorted by time, creation first; ``plans``
    are sorted by ``since``, the first at the subscription's start; ``addons`` in any order.
    Every instant is timezone-aware. Nothing at or after a statement's ``until`` is read
    (so a history may run past it).
    """

    subscription_id: int
    deployment_id: Any
    currency: str
    starts_at: datetime
    states: tuple[StateChange, ...]
    plans: tuple[PlanTerm, ...]
    addons: tuple[AddonTerm, ...] = ()


@dataclass(frozen=True, slots=True)
class Line:
    """One billed piece: a plan term or an add-on line over one run of billable seconds."""

    kind: Literal["plan", "addon"]
    code: str
    description: str
    plan_version: int | None
    addon_line_id: int | None
    unit_price_cents: int
    starts_at: datetime
    ends_at: datetime
    amount_cents: int

    @property
    def seconds(self) -> int:
        return (self.ends_at - self.starts_at) // _SECOND

    def as_dict(self) -> dict[str, Any]:
        """The SPEC §6 line: ``plan_version`` on plan lines, ``addon_line_id`` on add-ons."""
        line: dict[str, Any] = {
            "kind": self.kind,
            "code": self.code,
            "description": self.description,
        }
        if self.kind == "plan":
            line["plan_version"] = self.plan_version
        else:
            line["addon_line_id"] = self.addon_line_id
        line["unit_price_cents"] = self.unit_price_cents
        line["starts_at"] = _iso(self.starts_at)
        line["ends_at"] = _iso(self.ends_at)
        line["amount_cents"] = self.amount_cents
        return line


@dataclass(frozen=True, slots=True)
class StatementDraft:
    """A statement as computed, before it is stored (no id, not closed)."""

    subscription_id: int
    deployment_id: Any
    period_start: date
    period_end: date
    currency: str
    lines: tuple[Line, ...]
    total_cents: int

    def as_dict(self) -> dict[str, Any]:
        """The SPEC §6 statement shape of a preview (``id`` and ``closed_at`` null)."""
        return {
            "id": None,
            "subscription_id": self.subscription_id,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "currency": self.currency,
            "lines": [line.as_dict() for line in self.lines],
            "total_cents": self.total_cents,
            "closed_at": None,
        }


def statement_for(history: BillingHistory, period: Period, until: datetime) -> StatementDraft:
    """The statement of ``history`` for ``period``, counting time before ``until`` only.

    Pure: same arguments, same statement. See the module docstring for the rules, the
    whole-second truncation and the rounding bound. Raises ValueError for a history that
    breaks its own shape (unsorted changes, an unknown state, a naive datetime, a term in
    another currency than the subscription's, a negative price).
    """
    lo = max(period._start_s, _seconds(history.starts_at))
    hi = min(period._end_s, _seconds(until))
    lines: list[Line] = []
    if lo < hi:
        spans = _billable_spans(history.states, lo, hi)
        if spans:
            lines = _lines(history, _segments(history, lo, hi), spans, period)
    return StatementDraft(
        subscription_id=history.subscription_id,
        deployment_id=history.deployment_id,
        period_start=period.start,
        period_end=period.end,
        currency=history.currency,
        lines=tuple(lines),
        total_cents=sum(line.amount_cents for line in lines),
    )


def _billable_spans(states: tuple[StateChange, ...], lo: int, hi: int) -> list[tuple[int, int]]:
    """The billable runs of seconds within ``[lo, hi)``, sorted, disjoint, not touching.

    Computed once per statement; each segment then only intersects its own times with
    these (a bisect away), whatever the number of state changes.
    """
    spans: list[tuple[int, int]] = []
    run_start = None  # start of the current billable run, if in one
    previous = None
    for change in states:
        at = _seconds(change.at)
        if previous is not None and at < previous:
            raise ValueError("state changes must be sorted by time")
        previous = at
        if at >= hi:
            break  # nothing from here on reaches [lo, hi)
        state = change.state
        if state in BILLABLE_STATES:
            if run_start is None:
                run_start = at
            continue
        if state not in UNBILLED_STATES and state not in ENDING_STATES:
            raise ValueError(f"unknown deployment state {state!r}")
        if run_start is not None:
            _add_span(spans, run_start, at, lo, hi)
            run_start = None
        if state in ENDING_STATES:
            return spans  # billing has ended for good; later changes are ignored
    if run_start is not None:
        _add_span(spans, run_start, hi, lo, hi)
    return spans


def _add_span(spans: list[tuple[int, int]], start: int, end: int, lo: int, hi: int) -> None:
    """Append ``[start, end)`` clipped to ``[lo, hi)``, joined to the last span it touches."""
    start = max(start, lo)
    end = min(end, hi)
    if start >= end:
        return
    if spans and spans[-1][1] == start:
        # A pause shorter than a second disappears in truncation: one run, one line.
        spans[-1] = (spans[-1][0], end)
    else:
        spans.append((start, end))


def _segments(history: BillingHistory, lo: int, hi: int) -> list[tuple[Any, int, int]]:
    """``(term, begin, end)`` in seconds for every segment that reaches ``[lo, hi)``: plan
    terms in time order, then add-on lines by line id."""
    segments: list[tuple[Any, int, int]] = []
    plans = history.plans
    sinces = [_seconds(term.since) for term in plans]
    for index, term in enumerate(plans):
        begin = sinces[index]
        if index + 1 < len(plans):
            end = sinces[index + 1]
            if end < begin:
                raise ValueError("plan terms must be sorted by time")
        else:
            end = hi
        if begin < hi and end > lo:
            segments.append((term, begin, end))
    for addon in sorted(history.addons, key=attrgetter("line_id")):
        begin = _seconds(addon.attached_at)
        end = hi if addon.detached_at is None else _seconds(addon.detached_at)
        if begin < hi and end > lo:
            segments.append((addon, begin, end))
    return segments


def _lines(
    history: BillingHistory,
    segments: list[tuple[Any, int, int]],
    spans: list[tuple[int, int]],
    period: Period,
) -> list[Line]:
    """One line per billable piece of each segment; each segment rounds once."""
    period_seconds = period.seconds
    span_starts = [start for start, _ in spans]
    # Lines share their bounds: build each datetime once, and most are the period's own.
    instants = {period._start_s: period.starts_at, period._end_s: period.ends_at}
    lines: list[Line] = []
    for term, begin, end in segments:
        # The segment intersected with the billable spans, from the first that reaches it.
        pieces = []
        for index in range(max(bisect_right(span_starts, begin) - 1, 0), len(spans)):
            span_start, span_end = spans[index]
            if span_start >= end:
                break
            piece_start = span_start if span_start > begin else begin
            piece_end = span_end if span_end < end else end
            if piece_start < piece_end:
                pieces.append((piece_start, piece_end))
        if not pieces:
            continue

        if type(term) is PlanTerm:
            kind, code, plan_version, addon_line_id = "plan", term.plan_code, term.version, None
        else:
            kind, code, plan_version, addon_line_id = "addon", term.code, None, term.line_id
        if term.currency != history.currency:
            raise ValueError(
                f"{kind} {code} is priced in {term.currency}, "
                f"the subscription in {history.currency}"
            )
        price = term.price_cents
        if price < 0:
            raise ValueError(f"{kind} {code} has a negative price ({price})")
        if len(pieces) == 1:
            start, stop = pieces[0]
            amounts = [prorate(price, stop - start, period_seconds)]
        else:
            # Round the segment once, then split that amount over its pieces.
            seconds = [stop - start for start, stop in pieces]
            amounts = allocate(prorate(price, sum(seconds), period_seconds), seconds)

        description = term.description
        for (start, stop), amount in zip(pieces, amounts, strict=True):
            starts_at = instants.get(start) or instants.setdefault(start, _instant(start))
            ends_at = instants.get(stop) or instants.setdefault(stop, _instant(stop))
            # Positional: keywords cost a third more per line, on the clock's hot path.
            lines.append(
                Line(
                    kind,
                    code,
                    description,
                    plan_version,
                    addon_line_id,
                    price,
                    starts_at,
                    ends_at,
                    amount,
                )
            )
    return lines
