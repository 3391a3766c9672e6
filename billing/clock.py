"""The billing clock: closing every period that has ended into its statement.

`run_billing_cycle(as_of=...)` is what `manage.py run_billing_cycle` runs from
cron, on one machine or several at once. It walks the subscriptions whose
period ended at or before `as_of`, in primary-key chunks, one transaction per
chunk:

1. lock the chunk (`SELECT ... FOR UPDATE OF deployment, subscription SKIP LOCKED`, keyset
   by id): a subscription another runner is closing right now is skipped, not
   waited for, and its rows are never read twice;
2. read the chunk's histories in a fixed number of queries
   (`billing.history.histories_for`);
3. for each subscription, close every period that ended, oldest first (three
   months behind: three statements, in order), each from
   `billing.statements.statement_for` with `until` = the period's end;
   a subscription whose deployment was cancelled or archived gets its final
   statement for the period billing ended in, and no more;
4. write the statements, move the subscriptions to their next period and
   record one `subscription.period_closed` event per statement: a fixed
   number of set-based statements per chunk.

Idempotent: a closed period is no longer due, so a second run at the same
`as_of` writes nothing; and the unique (subscription, period) constraint is
the backstop that makes two runners close each period exactly once even if
they did read the same row.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from arcadia_cloud.actors import Actor
from arcadia_cloud.db import copy_text, fetch_rows, server_binding_cursor, walk_in_threads
from arcadia_cloud.errors import DomainError
from billing.history import PlanVersions, SubscriptionRow, any_of, histories_for
from billing.models import Statement
from billing.shapes import draft_shape
from billing.statements import (
    ENDING_STATES,
    BillingHistory,
    Period,
    StatementDraft,
    month,
    statement_for,
)
from catalog.models import PlanVersion, TrialEndBehavior
from deployments.models import Deployment, State
from deployments.scheduling import apply_changes_due
from deployments.transitions import transition_state
from feed.record import NewEvent, record_events
from subscriptions.events import record_trial_will_end
from subscriptions.models import PendingChange, Subscription

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 20_000
#: Walkers of one run on PostgreSQL by default, as for the batch command: one
#: connection keeps one core busy at most, and a chunk's Python and its SQL
#: overlap across two (docs/benchmarks.md).
DEFAULT_WORKERS = 2

_SUBSCRIPTION_COLUMNS = (
    "id",
    "deployment_id",
    "deployment__tenant_id",
    "plan_version_id",
    "status",
    "current_period_start",
    "current_period_end",
    "created_at",
    "trial_ends_at",
    "trial_warned_at",
    "deployment__state",
    "deployment__billing_action_suspended",
)

#: What a trial becomes when it ends, per the plan version's trial_end_behavior.
TRIAL_END_STATE = {
    TrialEndBehavior.ACTIVATE: State.ACTIVE,
    TrialEndBehavior.PAST_DUE: State.PAST_DUE,
    TrialEndBehavior.CANCEL: State.CANCELLED,
}
CLOCK_ACTOR = "system:billing_clock"


def trial_warning() -> timedelta:
    return timedelta(days=settings.ARCADIA_TRIAL_WARNING_DAYS)


def due(as_of: datetime):
    """What the clock has to do something about at `as_of`: subscriptions with
    a period that ended (billing not ended), trials that ended, and trials
    ending within the warning that have not been warned of. (The deployment
    is joined, not outer-joined: the clock locks its row.)"""
    return Subscription.objects.filter(deployment__state__isnull=False).filter(
        Q(current_period_end__lte=as_of.date(), billing_ended_at__isnull=True)
        | Q(deployment__state=State.TRIAL, trial_ends_at__lte=as_of)
        | Q(
            deployment__state=State.TRIAL,
            trial_warned_at__isnull=True,
            trial_ends_at__lte=as_of + trial_warning(),
        )
    )


@dataclass
class ClosedPeriod:
    """One statement the clock wrote (or, in a dry run, would write)."""

    subscription_id: int
    deployment_id: UUID
    tenant_id: UUID
    draft: StatementDraft
    statement_id: int | None = None


@dataclass
class ClockResult:
    seen: int = 0
    periods_closed: int = 0
    trials_ended: int = 0
    skipped_overridden: int = 0
    trial_warnings: int = 0
    changes_applied: int = 0
    changes_failed: int = 0
    #: subscriptions that could not be billed (their chunk failed, or their
    #: history could not be), whichever walker met them
    failed_ids: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    #: dry run only: what would be written
    would_close: list[ClosedPeriod] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failed_ids)

    def absorb(self, other: ClockResult) -> None:
        for name in (
            "seen",
            "periods_closed",
            "trials_ended",
            "skipped_overridden",
            "trial_warnings",
            "changes_applied",
            "changes_failed",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failed_ids |= other.failed_ids
        self.errors.extend(e for e in other.errors if e not in self.errors)
        self.would_close.extend(other.would_close)


class ClockInterrupted(Exception):
    """The run stopped on a database error outside any chunk (its connection
    lost for good). `result` counts exactly the chunks that committed."""

    def __init__(self, result: ClockResult, cause: BaseException):
        super().__init__(str(cause))
        self.result = result
        self.cause = cause


def periods_to_close(row: SubscriptionRow, as_of: datetime) -> Iterator[Period]:
    """The subscription's periods that ended at or before `as_of`, oldest first."""
    period = month(row.current_period_start, row.current_period_end)
    while period.ends_at <= as_of:
        yield period
        period = period.next()


def billing_ended_in(history: BillingHistory, period: Period) -> bool:
    """Whether the deployment was cancelled or archived by the end of `period`:
    then this period's statement is its last."""
    return any(c.state in ENDING_STATES and c.at <= period.ends_at for c in history.states)


def _fast(
    row: SubscriptionRow, history: BillingHistory, as_of: datetime
) -> tuple[list[ClosedPeriod], tuple | None]:
    """The statements of every due period of a subscription with nothing else
    to do, oldest first, and the period it moves to (or that billing ended).
    Pure."""
    closed: list[ClosedPeriod] = []
    move = None
    for period in periods_to_close(row, as_of):
        draft = statement_for(history, period, period.ends_at)
        closed.append(ClosedPeriod(row.id, row.deployment_id, row.tenant_id, draft))
        if billing_ended_in(history, period):
            return closed, (row.id, period.start, period.end, True)
        following = period.next()
        move = (row.id, following.start, following.end, False)
    return closed, move


def _with_changes_due(rows: list[SubscriptionRow], as_of: datetime) -> set[int]:
    """The subscriptions of the chunk with a scheduled change effective by `as_of`."""
    return set(
        any_of(
            PendingChange.objects.filter(PendingChange.PENDING, effective_at__lte=as_of),
            "subscription_id",
            [row.id for row in rows],
        ).values_list("subscription_id", flat=True)
    )


def trial_end_behavior(plan_version_id: int) -> str:
    return PlanVersion.objects.values_list("trial_end_behavior", flat=True).get(pk=plan_version_id)


def warn_trial_ending(*, subscription_id: int, tenant_id) -> None:
    """`subscription.trial_will_end`, once: the subscription marks it."""
    subscription = Subscription.objects.select_related("deployment").get(pk=subscription_id)
    now = timezone.now()
    Subscription.objects.filter(pk=subscription_id).update(trial_warned_at=now)
    record_trial_will_end(subscription=subscription, tenant_id=tenant_id, at=now)


def run_billing_cycle(
    *,
    as_of: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = 1,
    dry_run: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> ClockResult:
    """Close every period that ended at or before `as_of` (see the module
    docstring). A chunk whose transaction fails is rolled back whole and its
    subscriptions counted as failed; the following chunks still run.

    `workers` walkers run at once on PostgreSQL, each on its own connection:
    exactly what several machines running the clock do (each skips what the
    others hold), so it needs no rule of its own. `on_progress(done, total)`
    after each chunk, on the calling thread. A database error outside a chunk
    raises ClockInterrupted with the counts of what did commit.
    """
    result = ClockResult()
    try:
        total = due(as_of).count()
        walkers = workers if _parallel(workers, dry_run) else 1
        done = 0
        for outcome, rows in _walk_all(as_of, batch_size, walkers, dry_run):
            result.absorb(outcome)
            done += rows
            if on_progress is not None:
                on_progress(min(done, total), total)
    except DatabaseError as exc:
        raise ClockInterrupted(result, exc) from exc
    return result


def _parallel(workers: int, dry_run: bool) -> bool:
    return (
        workers > 1
        and not dry_run
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    )


def _walk_all(
    as_of: datetime, batch_size: int, walkers: int, dry_run: bool
) -> Iterator[tuple[ClockResult, int]]:
    """(chunk result, rows in the chunk) for every chunk of every walker."""
    return walk_in_threads(lambda: _walk(as_of, batch_size, dry_run), walkers, "billing-clock")


def _walk(as_of: datetime, batch_size: int, dry_run: bool) -> Iterator[tuple[ClockResult, int]]:
    """One walker: chunks in id order until nothing due is left after the last,
    then one more pass from the start for rows that were locked (a short API
    transaction, or a chunk of another runner that rolled back). What the first
    pass saw (billed, failed, or left due on purpose, like an overridden trial)
    is not looked at again."""
    versions = PlanVersions()
    seen: set[int] = set()
    for _sweep in range(1 if dry_run else 2):
        after = 0
        while True:
            # Ids at or below `after` are behind the keyset already: only the
            # seen ones above it (on the second pass) need excluding. (Passing
            # every seen id made each chunk's query grow with the run.)
            skip = frozenset(i for i in seen if i > after) if _sweep else frozenset()
            chunk = _Chunk(as_of=as_of, versions=versions, dry_run=dry_run, skip=skip)
            try:
                rows = chunk.run(after=after, limit=batch_size)
            except DatabaseError as exc:
                logger.exception("Billing chunk after subscription %s failed", after)
                if not connection.in_atomic_block:
                    # A lost connection is replaced; inside a caller's
                    # transaction the caller decides.
                    connection.close_if_unusable_or_obsolete()
                # The failed chunk's rows are not known once its transaction is
                # gone: find where it stopped, without a lock, and go on after it.
                skipped = _ids_after(as_of, after, batch_size, seen)
                if not skipped:
                    break
                outcome = ClockResult(failed_ids=set(skipped))
                outcome.errors.append(f"{len(skipped)} subscriptions from {skipped[0]}: {exc}")
                seen.update(skipped)
                after = skipped[-1]
                yield outcome, len(skipped)
                continue
            if not rows:
                break
            seen.update(row.id for row in rows)
            after = rows[-1].id
            yield chunk.result, len(rows)


def _ids_after(as_of: datetime, after: int, limit: int, skip: set[int]) -> list[int]:
    rows = _unseen(due(as_of).filter(pk__gt=after), {i for i in skip if i > after})
    return list(rows.order_by("pk").values_list("pk", flat=True)[:limit])


def _unseen(rows, skip: Collection[int]):
    """`rows` without the subscriptions `skip` names. On PostgreSQL the ids go
    as one array parameter (bound in binary by `server_binding_cursor`), not
    one parameter each: the second pass may name every id of a large run."""
    if not skip:
        return rows
    if connection.vendor != "postgresql":
        return rows.exclude(pk__in=skip)
    table = connection.ops.quote_name(Subscription._meta.db_table)
    return rows.filter(
        RawSQL(f"NOT ({table}.id = ANY(%s::bigint[]))", [sorted(skip)], output_field=BooleanField())
    )


@dataclass
class _Chunk:
    as_of: datetime
    versions: PlanVersions
    dry_run: bool
    #: subscriptions this walker has already looked at: not again
    skip: frozenset[int] = frozenset()
    result: ClockResult = field(default_factory=ClockResult)

    def run(self, *, after: int, limit: int) -> list[SubscriptionRow]:
        with transaction.atomic():
            rows = self._lock(after=after, limit=limit)
            if not rows:
                return rows
            self.result.seen = len(rows)
            with_changes = set() if self.dry_run else _with_changes_due(rows, self.as_of)
            histories = histories_for(rows, versions=self.versions)
            closed: list[ClosedPeriod] = []
            moves: list[tuple[int, date, date, bool]] = []
            for row in rows:
                try:
                    if row.id in with_changes or self._trial_due(row):
                        # The rare case, one subscription at a time: moves and
                        # changes are written, then the history read again.
                        periods, move = self._slow(row)
                    else:
                        periods, move = _fast(row, histories[row.id], self.as_of)
                except ValueError as exc:
                    # A history this code cannot bill (e.g. malformed data):
                    # report it, close nothing of this subscription.
                    self.result.failed_ids.add(row.id)
                    self.result.errors.append(f"subscription {row.id}: {exc}")
                    continue
                closed.extend(periods)
                if move is not None:
                    moves.append(move)
            self.result.periods_closed = len(closed)
            if self.dry_run:
                self.result.would_close = closed
                transaction.set_rollback(True)
                return rows
            now = timezone.now()
            _write_statements(closed, now)
            _move_periods(moves, now)
            _record_closed(closed, now)
        return rows

    def _trial_due(self, row: SubscriptionRow) -> bool:
        return (
            row.state == State.TRIAL
            and row.trial_ends_at is not None
            and (
                row.trial_ends_at <= self.as_of
                or (
                    row.trial_warned_at is None
                    and row.trial_ends_at <= self.as_of + trial_warning()
                )
            )
        )

    def _slow(self, row: SubscriptionRow) -> tuple[list[ClosedPeriod], tuple | None]:
        """One subscription with a trial to end or warn of, or changes due:
        1. end the trial (as `system`, as of `trial_ends_at`) or warn of it;
        2. close its due periods oldest first, applying at each boundary the
           changes scheduled for it before the next period is read."""
        if not self.dry_run:
            self._trial(row)
        closed: list[ClosedPeriod] = []
        move = None
        history = histories_for([row], versions=self.versions)[row.id]
        for period in periods_to_close(row, self.as_of):
            draft = statement_for(history, period, period.ends_at)
            closed.append(ClosedPeriod(row.id, row.deployment_id, row.tenant_id, draft))
            if not self.dry_run:
                outcome = apply_changes_due(subscription_id=row.id, boundary=period.ends_at)
                self.result.changes_applied += outcome.applied
                self.result.changes_failed += outcome.failed
                self.result.errors.extend(outcome.errors)
                if outcome.applied:
                    history = histories_for([row], versions=self.versions)[row.id]
            if billing_ended_in(history, period):
                return closed, (row.id, period.start, period.end, True)
            following = period.next()
            move = (row.id, following.start, following.end, False)
        return closed, move

    def _trial(self, row: SubscriptionRow) -> None:
        if row.state != State.TRIAL or row.trial_ends_at is None:
            return
        if row.trial_ends_at > self.as_of:
            if row.trial_warned_at is None and row.trial_ends_at <= self.as_of + trial_warning():
                warn_trial_ending(subscription_id=row.id, tenant_id=row.tenant_id)
                self.result.trial_warnings += 1
            return
        if row.billing_action_suspended:
            # The override is part of the map's "who may": a system actor may
            # not move it; counted, and looked at again on every run.
            self.result.skipped_overridden += 1
            return
        behavior = trial_end_behavior(row.plan_version_id)
        try:
            with transaction.atomic():
                transition_state(
                    deployment_id=row.deployment_id,
                    to_state=TRIAL_END_STATE[behavior],
                    actor=Actor.system(CLOCK_ACTOR),
                    reason=f"trial ended ({behavior})",
                    at=row.trial_ends_at,
                )
        except DomainError as exc:
            self.result.failed_ids.add(row.id)
            self.result.errors.append(f"subscription {row.id}: trial not ended: {exc.code}")
            return
        self.result.trials_ended += 1

    def _lock(self, *, after: int, limit: int) -> list[SubscriptionRow]:
        rows = (
            _unseen(due(self.as_of).filter(pk__gt=after), self.skip)
            .order_by("pk")
            .values_list(*_SUBSCRIPTION_COLUMNS)[:limit]
        )
        if self.dry_run or connection.vendor != "postgresql":
            return [SubscriptionRow(*row) for row in fetch_rows(rows)]
        # The deployment row is what writers lock (there is one per
        # subscription): every writer of a deployment and its subscription
        # locks the deployment first, so the clock does too. Rows another
        # runner holds are skipped, never waited for. The subscription row
        # is locked as well, in the same statement, for what happens when
        # that runner commits while this statement runs: its snapshot still
        # shows the period as due, and locking only the deployment (which
        # the other runner did not change) would hand the stale row over to
        # be closed a second time. Locking the subscription (which it did
        # change) makes PostgreSQL re-read the committed row and re-check
        # the WHERE clause: no longer due, left out. (Django's
        # select_for_update(of=...) needs a select_related, which a values
        # query has not: the clause is added to the queryset's own SQL.)
        sql, params = rows.query.sql_with_params()
        tables = ", ".join(
            connection.ops.quote_name(model._meta.db_table) for model in (Deployment, Subscription)
        )
        with server_binding_cursor() as cursor:
            cursor.execute(f"{sql} FOR UPDATE OF {tables} SKIP LOCKED", params, binary=True)
            return [SubscriptionRow(*row) for row in cursor.fetchall()]


def _write_statements(closed: list[ClosedPeriod], now: datetime) -> None:
    """Insert the chunk's statements and give each its id."""
    if not closed:
        return
    if connection.vendor != "postgresql":
        statements = Statement.objects.bulk_create(
            [
                Statement(
                    subscription_id=c.subscription_id,
                    deployment_id=c.deployment_id,
                    period_start=c.draft.period_start,
                    period_end=c.draft.period_end,
                    currency=c.draft.currency,
                    lines=[line.as_dict() for line in c.draft.lines],
                    total_cents=c.draft.total_cents,
                    closed_at=now,
                )
                for c in closed
            ]
        )
        for c, statement in zip(closed, statements, strict=True):
            c.statement_id = statement.pk
        return
    table = Statement._meta.db_table
    with server_binding_cursor() as cursor:
        # Ids first (one round trip for the chunk), so the rows can stream
        # through COPY and the events can name their statement.
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, len(closed)],
        )
        for c, (statement_id,) in zip(closed, cursor.fetchall(), strict=True):
            c.statement_id = statement_id
        encode = json.JSONEncoder(separators=(",", ":")).encode
        closed_at = now.isoformat()
        lines = [
            "\t".join(
                (
                    str(c.statement_id),
                    str(c.subscription_id),
                    str(c.deployment_id),
                    c.draft.period_start.isoformat(),
                    c.draft.period_end.isoformat(),
                    c.draft.currency,
                    copy_text(encode([line.as_dict() for line in c.draft.lines])),
                    str(c.draft.total_cents),
                    closed_at,
                )
            )
            for c in closed
        ]
        columns = (
            "id, subscription_id, deployment_id, period_start, period_end, currency, "
            "lines, total_cents, closed_at"
        )
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            copy.write("\n".join(lines) + "\n")


def _move_periods(moves: list[tuple[int, date, date, bool]], now: datetime) -> None:
    """Each subscription to its next period, or marked as billed for good: one UPDATE."""
    if not moves:
        return
    ids = [m[0] for m in moves]
    if connection.vendor != "postgresql":
        by_id = {m[0]: m for m in moves}
        subscriptions = list(Subscription.objects.filter(pk__in=ids))
        for subscription in subscriptions:
            _, start, end, ended = by_id[subscription.pk]
            subscription.current_period_start = start
            subscription.current_period_end = end
            subscription.billing_ended_at = now if ended else None
            subscription.updated_at = now
        Subscription.objects.bulk_update(
            subscriptions,
            ["current_period_start", "current_period_end", "billing_ended_at", "updated_at"],
        )
        return
    table = Subscription._meta.db_table
    with server_binding_cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS s SET current_period_start = m.start, "
            "current_period_end = m.stop, updated_at = %s, "
            "billing_ended_at = CASE WHEN m.ended THEN %s::timestamptz END "
            "FROM unnest(%s::bigint[], %s::date[], %s::date[], %s::boolean[]) "
            "AS m(id, start, stop, ended) WHERE s.id = m.id",
            [now, now, ids, [m[1] for m in moves], [m[2] for m in moves], [m[3] for m in moves]],
        )


def _record_closed(closed: list[ClosedPeriod], now: datetime) -> None:
    """One `subscription.period_closed` feed event per statement, in the same
    transaction as the statements: one statement for the chunk."""
    record_events(
        [
            NewEvent(
                type="subscription.period_closed",
                tenant_id=c.tenant_id,
                deployment_id=c.deployment_id,
                data={
                    "statement": draft_shape(c.draft, statement_id=c.statement_id, closed_at=now)
                },
                occurred_at=now,
            )
            for c in closed
        ]
    )
