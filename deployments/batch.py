"""The set-based path: moving many deployments at once, at database speed.

A deployment changes state through one of two paths: `transition_state` (one
row per transaction, for the API, the admin and the clock) and this module (a
set of rows, for the batch command: dunning `past_due -> suspended`, clean-up
`cancelled -> archived`). The two share the check and the columns: the move
is asked of the map once per run (`check_move`), the row part of the rule
(the tenant, the operator override) comes from the same `Rule` as SQL
(`Rule.refusal_sql`, decided once per run, not once per row), and moved rows
get exactly `Deployment.MOVE_COLUMNS` (`move_values`), the same events
(`transition_events_statements`), the same subscription and resource
follow-ups (`status_follow_statement`, `drive_resources_statement`). What
differs is only the shape of the writes:

1. count the matching rows (what the summary reports as matched);
2. walk the primary key in keyset chunks, one transaction per chunk, each
   chunk ONE statement (PostgreSQL) that
   - locks the next rows: `WHERE state = from AND id >= next ... ORDER BY id
     LIMIT n FOR UPDATE NOWAIT`, re-checking the filter under the lock: a row
     another runner has moved no longer matches; when a row is locked right
     now (another runner, an API transition), the chunk is taken again with
     `SKIP LOCKED`, which passes it by and counts it, so two runners on two
     machines never move a deployment twice (the count costs a second scan
     of the chunk's span, paid only when a lock was met);
   - updates the allowed ones (MOVE_COLUMNS), inserts their audit and feed
     events in primary-key order, makes their subscriptions and resources
     follow (data-modifying `WITH` clauses);
   - returns the counts, where the walk goes on, and (`SKIP LOCKED`) how
     many matching rows in the chunk's span it could not lock;
   no id list is ever built, so memory is flat in the number of rows;
3. walk once more the spans where rows were skipped as locked (a lock held by
   a single API transition is released in milliseconds), make every chunk
   durable with one synchronous commit, then report.

On PostgreSQL the key space is cut into spans shared out between `workers`
threads, each on its own connection (two by default): exactly what two
runners on two machines do, so it needs no rule of its own, and it lets the
database use a second core, which a single statement never does. Inside a
caller's transaction (tests, or a caller that wants all-or-nothing) the
chunks run on the caller's connection, one after the other: other connections
could not see its uncommitted rows. Elsewhere (SQLite) each chunk is read,
checked row by row with the same `Rule.refusal`, and moved with `write_moves`.

Locking in primary-key order, like every chunk of every runner does, keeps
two runners from deadlocking on each other.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple
from uuid import UUID

from django.db import DatabaseError, OperationalError, connection, connections, transaction
from django.utils import timezone
from psycopg.errors import LockNotAvailable

from arcadia_cloud.actors import Actor
from arcadia_cloud.db import server_binding_cursor
from deployments import selectors
from deployments.events import check_actor_label, check_reason, transition_events_statements
from deployments.models import Deployment
from deployments.resource_events import SHAPE_COLUMNS
from deployments.resources import drive_resources_statement, record_driven_resources
from deployments.transitions import (
    SUBSCRIPTION_STATUS_FOR_STATE,
    Refusal,
    Rule,
    check_move,
    move_values,
    write_moves,
)
from subscriptions.services import status_follow_statement

logger = logging.getLogger(__name__)

DEFAULT_ACTOR = "system:transition_deployments"
DEFAULT_BATCH_SIZE = 2000
MAX_BATCH_SIZE = 50_000
DEFAULT_WORKERS = 2
MAX_WORKERS = 8
#: Spans of the key space per worker: more than one, so a worker whose spans
#: hold fewer rows takes over the rest instead of idling.
SPANS_PER_WORKER = 4

_TABLE = Deployment._meta.db_table
#: The columns `Rule.row_conditions` may name (the map's permissions, `may`).
_RULE_COLUMNS = ("tenant_id", "billing_action_suspended")
_LOWEST, _HIGHEST = UUID(int=0), UUID(int=(1 << 128) - 1)


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


#: Longer than any deployment can have existed; beyond it datetime arithmetic overflows.
MAX_DURATION = timedelta(days=100 * 366)


def parse_duration(text: str) -> timedelta:
    """`14d`, `12h`, `30m`, `45s`, `2w` -> timedelta, at most MAX_DURATION;
    ValueError otherwise."""
    match = _DURATION.match(text or "")
    if not match:
        raise ValueError(f"{text!r} is not a duration like 14d, 12h, 30m, 45s or 2w")
    try:
        duration = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        duration = None
    if duration is None or duration > MAX_DURATION:
        raise ValueError(f"{text!r} is longer than {MAX_DURATION.days} days")
    return duration


class LockedRow(NamedTuple):
    """The columns of a deployment the map's permission reads, where rows are
    checked in Python (SQLite, and the dry run): `Rule.refusal` is asked with
    this instead of a full `Deployment` (building model instances costs more
    than the move). The map's permissions (`deployments.models.may`) read
    `tenant_id` and `billing_action_suspended`."""

    id: UUID
    tenant_id: UUID
    state: str
    billing_action_suspended: bool


@dataclass(frozen=True)
class BatchSelection:
    """Which deployments a batch move applies to."""

    from_state: str
    to_state: str
    tenant_id: UUID | None = None
    region: str | None = None
    in_state_for: timedelta | None = None
    ids: list[UUID] | None = None

    def cutoff(self, now: datetime) -> datetime | None:
        """Latest `state_since` a row may have to match `--in-state-for`."""
        return now - self.in_state_for if self.in_state_for else None

    def candidates(self, cutoff: datetime | None):
        return selectors.batch_candidates(
            from_state=self.from_state,
            tenant_id=self.tenant_id,
            region=self.region,
            state_since_before=cutoff,
        )


@dataclass
class BatchResult:
    matched: int = 0
    moved: int = 0
    skipped_overridden: int = 0
    skipped_changed_or_locked: int = 0
    skipped_not_allowed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    #: the ids of the chunks that failed (rolled back), so a caller can name them
    failed_ids: list[UUID] = field(default_factory=list)
    #: dry run only: the rows that would move, as (id, tenant slug, slug, state_since).
    would_move: list[tuple[UUID, str, str, datetime]] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return self.skipped_overridden + self.skipped_changed_or_locked + self.skipped_not_allowed


class BatchInterrupted(Exception):
    """The run stopped on a database error outside any chunk (its connection
    lost for good). `result` counts exactly the chunks that committed."""

    def __init__(self, result: BatchResult, cause: BaseException):
        super().__init__(str(cause))
        self.result = result
        self.cause = cause


@dataclass(frozen=True)
class _Span:
    """A stretch of the primary key a walk covers: ids from `lo` to `hi`, both
    included, and with `--ids` only those of `ids` (sorted)."""

    lo: UUID
    hi: UUID
    ids: list[UUID] | None = None


def _spans(selection: BatchSelection, batch_size: int, parts: int) -> list[_Span]:
    """The key space cut in `parts` equal spans (ids are random UUIDs, so each
    holds about as many rows), or with `--ids` one span per chunk of them."""
    if selection.ids is not None:
        wanted = sorted(set(selection.ids))
        return [
            _Span(chunk[0], chunk[-1], chunk)
            for chunk in (
                wanted[start : start + batch_size] for start in range(0, len(wanted), batch_size)
            )
        ]
    step = (1 << 128) // parts
    return [
        _Span(UUID(int=n * step), UUID(int=(n + 1) * step - 1) if n < parts - 1 else _HIGHEST)
        for n in range(parts)
    ]


@dataclass
class _ChunkOutcome:
    """What one chunk's transaction did; merged into the run's result by the
    thread that reports progress, so workers share no mutable state."""

    #: rows the chunk took: locked, or counted as failed
    taken: int = 0
    moved: int = 0
    overridden: int = 0
    not_allowed: int = 0
    failed: int = 0
    error: str | None = None
    failed_ids: list[UUID] = field(default_factory=list)
    #: where the walk of the span goes on (None: the span is done)
    next_lo: UUID | None = None
    #: the part of the span where matching rows were locked by someone else
    retry: _Span | None = None


def transition_batch(
    *,
    selection: BatchSelection,
    actor: Actor,
    reason: str,
    notes: str = "",
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = 1,
    on_progress: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """Move every deployment of `selection` to `selection.to_state`.

    Invariants: each moved deployment was in `from_state` (and, with
    `in_state_for`, had been for that long) when it was locked, passed the
    map's rule for `actor` (`check_move` once, then `Rule.refusal_sql` on the
    row), and gets exactly one event (actor label, reason, from/to,
    occurred_at = its new state_since). Overridden rows
    (`billing_action_suspended`) are refused by the map's permission for a
    system actor, and counted as skipped, unless the actor was built with
    `include_overridden`.
    Locks: one transaction per chunk, rows locked in primary-key order, NOWAIT
    (the chunk taken again with SKIP LOCKED when another transaction holds
    one of its rows). Side effects: the moved rows' subscriptions and resources
    follow, in the chunk's transaction. A chunk whose transaction fails is
    rolled back and counted as failed (the rows it would have taken); the
    following chunks still run, on a new connection if the old one is lost.
    `workers` chunks run at once, each on its own connection, on PostgreSQL
    outside a transaction (one at a time otherwise; see the module's notes).
    `on_progress(done, total)` is called after each chunk, on the calling thread.
    Raises before reading anything: InvalidTransition / TransitionForbidden (the
    map, asked for the actor without a row), ValidationError (a reason or actor
    label longer than the audit columns). A database error outside a chunk (the
    count, a connection that cannot be re-opened) raises BatchInterrupted with
    the counts of what did commit.
    """
    rule = check_move(selection.from_state, selection.to_state, actor)
    check_reason(reason)
    check_actor_label(actor.label)
    run = _Run(
        rule=rule,
        selection=selection,
        actor=actor,
        reason=reason,
        notes=notes,
        cutoff=selection.cutoff(timezone.now()),
        batch_size=batch_size,
    )
    try:
        _run_all(run, workers, on_progress)
    except DatabaseError as exc:
        raise BatchInterrupted(run.result, exc) from exc
    return run.result


def _run_all(run: _Run, workers: int, on_progress: Callable[[int, int], None] | None) -> None:
    result = run.result
    result.matched = selectors.batch_candidate_count(run.candidates, ids=run.selection.ids)
    parallel = _parallel(workers)
    parts = workers * SPANS_PER_WORKER if parallel else 1
    spans = _spans(run.selection, run.batch_size, parts)
    with durable_at_the_end():
        done = 0
        retry: list[_Span] = []
        for outcome in _walk_all(run, spans, workers if parallel else 1):
            run.absorb(outcome)
            if outcome.retry is not None:
                retry.append(outcome.retry)
            done += outcome.taken
            if on_progress is not None:
                on_progress(min(done, result.matched), result.matched)
        # A row skipped as locked may have been held by a short transaction
        # that has since let it go unchanged: one more walk of the spans where
        # that happened, so it is not missed. A row another runner has moved
        # meanwhile no longer matches.
        for span in retry:
            for outcome in run.walk(span, retry=True):
                run.absorb(outcome)
    # Rows matched at the start that no chunk took were moved by another
    # runner, changed state meanwhile, or are still locked by someone else.
    accounted = result.moved + result.skipped_overridden + result.skipped_not_allowed
    accounted += result.failed
    result.matched = max(result.matched, accounted)
    result.skipped_changed_or_locked = result.matched - accounted


def _parallel(workers: int) -> bool:
    return workers > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block


def _walk_all(run: _Run, spans: list[_Span], workers: int) -> Iterator[_ChunkOutcome]:
    """The outcome of every chunk of every span, in the order they finish."""
    if workers == 1:
        for span in spans:
            yield from run.walk(span)
        return
    todo: queue.SimpleQueue[_Span] = queue.SimpleQueue()
    for span in spans:
        todo.put(span)
    finished: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    exited = object()  # a worker's last message, after all its outcomes

    def work() -> None:
        # This thread's own connection: Django keeps one per thread.
        error = None
        try:
            while not stop.is_set():
                try:
                    span = todo.get_nowait()
                except queue.Empty:
                    return
                for outcome in run.walk(span):
                    finished.put(outcome)
                    if stop.is_set():
                        return
        except BaseException as exc:  # re-raised on the calling thread
            error = exc
        finally:
            connections.close_all()
            finished.put((exited, error))

    threads = [
        threading.Thread(target=work, name=f"transition-batch-{n}", daemon=True)
        for n in range(min(workers, len(spans)))
    ]
    for thread in threads:
        thread.start()
    # Until every worker has exited: a chunk another worker committed after one
    # failed is still reported (the other workers take over its share of
    # spans; what none could take is left unmoved, and the error raised).
    error = None
    running = len(threads)
    try:
        while running:
            item = finished.get()
            if isinstance(item, tuple) and item[0] is exited:
                running -= 1
                error = error or item[1]
                continue
            yield item
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    if error is not None:
        raise error


@contextmanager
def durable_at_the_end():
    """Commit the chunks (of this module's runs, and of a plan migration's)
    without waiting for each one's WAL flush, and make all of them durable
    with one synchronous commit before returning.

    A chunk is one transaction, so each is all-or-nothing either way; what
    asynchronous commit changes is only *when* its commit reaches disk. Waiting
    for that flush once per chunk costs ~15% of a 100k-row run here. The final
    synchronous commit flushes the WAL up to its own record, which lies after
    every chunk's (the workers' too: they have all finished), so everything the
    summary reports as moved is durable when it is printed. A crash mid-run can
    lose the last ~0.6 s of chunks whole (state and events together); they
    were never reported, and the next run, which is idempotent, moves them.

    Each chunk turns asynchronous commit on for its own transaction only
    (`set_config(..., true)` inside its statement, not a session `SET`): behind
    a transaction-pooling PgBouncer a session setting would stay on a server
    connection other clients then get, and cost a round trip per chunk.
    """
    if connection.vendor != "postgresql":
        yield
        return
    try:
        yield
    finally:
        # Also when a chunk raised: what did commit is flushed before the error
        # reaches the caller. Any connection does: the flush reaches this
        # commit's record, which lies after every chunk's. So if this one was
        # lost (killed mid-run), once more on a new one.
        try:
            _flush_commits()
        except DatabaseError:
            connection.close()
            _flush_commits()


def _flush_commits() -> None:
    with connection.cursor() as cursor, transaction.atomic():
        # An xid makes this commit write a record, and so flush the WAL.
        cursor.execute("SELECT pg_current_xact_id()")


@dataclass
class _Run:
    rule: Rule
    selection: BatchSelection
    actor: Actor
    reason: str
    cutoff: datetime | None
    batch_size: int
    notes: str = ""
    result: BatchResult = field(default_factory=BatchResult)
    _statements: dict = field(default_factory=dict)

    @property
    def candidates(self):
        return self.selection.candidates(self.cutoff)

    def absorb(self, outcome: _ChunkOutcome) -> None:
        self.result.moved += outcome.moved
        self.result.skipped_overridden += outcome.overridden
        self.result.skipped_not_allowed += outcome.not_allowed
        self.result.failed += outcome.failed
        self.result.failed_ids.extend(outcome.failed_ids)
        if outcome.error is not None:
            self.result.errors.append(outcome.error)

    def walk(self, span: _Span, *, retry: bool = False) -> Iterator[_ChunkOutcome]:
        """The chunks of one span, in key order. Safe to run in several threads
        at once: each touches only its own rows and its thread's connection."""
        lo: UUID | None = span.lo
        while lo is not None:
            outcome = self.move_chunk(span, lo, retry=retry)
            yield outcome
            lo = outcome.next_lo

    def move_chunk(self, span: _Span, lo: UUID, *, retry: bool = False) -> _ChunkOutcome:
        """Lock, check and move the next chunk of `span` from `lo`, in one
        transaction. With `retry`, only rows the actor may move are looked at
        (the others were counted by the first walk)."""
        limit = len(span.ids) if span.ids is not None else self.batch_size
        # the chunk is its own transaction, not a part of a caller's
        asynchronous = not connection.in_atomic_block
        try:
            try:
                with transaction.atomic():
                    outcome = self._move(span, lo, limit, retry, asynchronous, nowait=True)
            except OperationalError as exc:
                if not isinstance(exc.__cause__, LockNotAvailable):
                    raise
                # Another transaction holds a row of the chunk: the chunk again
                # (nothing of the first try was written), skipping what is locked.
                with transaction.atomic():
                    outcome = self._move(span, lo, limit, retry, asynchronous, nowait=False)
        except DatabaseError as exc:
            logger.exception("Batch chunk of deployments from %s failed", lo)
            return self._failed(span, lo, limit, retry, exc)
        if retry:
            outcome.retry = None  # what is still locked now stays skipped
        return outcome

    def _move(
        self, span: _Span, lo: UUID, limit: int, retry: bool, asynchronous: bool, *, nowait: bool
    ) -> _ChunkOutcome:
        if connection.vendor == "postgresql":
            return self._move_in_one_statement(span, lo, limit, retry, asynchronous, nowait)
        return self._move_row_by_row(span, lo, limit)

    # -- PostgreSQL: one statement per chunk ------------------------------------------

    def _params(self, span: _Span, lo: UUID, limit: int) -> dict:
        params = {"lo": lo, "hi": span.hi, "limit": limit}
        if span.ids is not None:
            params["ids"] = span.ids
        return params

    def _match(self, alias: str, span: _Span, retry: bool) -> tuple[str, dict]:
        """The rows of the selection in the span (with `retry`, only those the
        actor may move), as a condition over `alias`."""
        selection = self.selection
        parts = [
            f"{alias}.state = %(from_state)s::text",
            f"{alias}.id >= %(lo)s",
            f"{alias}.id <= %(hi)s",
        ]
        params: dict = {"from_state": selection.from_state}
        if span.ids is not None:
            parts.append(f"{alias}.id = ANY(%(ids)s)")
        if selection.tenant_id is not None:
            parts.append(f"{alias}.tenant_id = %(tenant_id)s")
            params["tenant_id"] = selection.tenant_id
        if selection.region is not None:
            parts.append(f"{alias}.region = %(region)s::text")
            params["region"] = selection.region
        if self.cutoff is not None:
            parts.append(f"{alias}.state_since <= %(cutoff)s")
            params["cutoff"] = self.cutoff
        if retry:
            allowed, _, rule_params = self.rule.refusal_sql(self.actor, alias)
            parts.append(f"({allowed})")
            params.update(rule_params)
        return " AND ".join(parts), params

    def _statement(self, span: _Span, retry: bool, nowait: bool) -> tuple[str, dict, bool]:
        """The chunk's statement and its run-wide values, built once per run
        (the map's rule decided once, not once per row).

        With `nowait` the chunk's rows are locked `NOWAIT`: the statement
        fails (LockNotAvailable) rather than pass a row another transaction
        holds, so when it succeeds no matching row of the chunk's span was
        skipped and none needs counting. Without, `SKIP LOCKED`, and the
        statement counts the matching rows of the span it could not lock
        (a second scan of the span: the price of contention only)."""
        key = (span.ids is not None, retry, nowait)
        if key in self._statements:
            return self._statements[key]
        selection = self.selection
        match_x, params = self._match("x", span, retry)
        allowed_l, overridden_l, rule_params = self.rule.refusal_sql(self.actor, "l")
        params.update(rule_params)
        # the id, and what the rule reads of a row (its conditions' columns)
        columns_x = ", ".join(f"x.{column}" for column in ("id", *_RULE_COLUMNS))
        # Placeholders, not values: `at` differs per chunk.
        columns = move_values(selection.to_state, timezone.now())
        assignments = ", ".join(f"{column} = %(move_{column})s" for column in columns)
        clauses = [
            # `locked_ctid`: the locked row version's physical address, so the
            # UPDATE goes straight to it (a TID scan) instead of looking every
            # id up again. Stable while the lock is held: only its holder can
            # change the row.
            "locked AS ("
            f"SELECT x.ctid AS locked_ctid, {columns_x} FROM {_TABLE} x WHERE {match_x} "
            f"ORDER BY x.id LIMIT %(limit)s FOR UPDATE {'NOWAIT' if nowait else 'SKIP LOCKED'})",
            "moved AS ("
            f"UPDATE {_TABLE} d SET {assignments} "
            f"WHERE d.ctid = ANY(ARRAY(SELECT l.locked_ctid FROM locked l WHERE {allowed_l})) "
            "RETURNING d.*)",
        ]
        events, _ = transition_events_statements(
            moved="moved",
            from_state=selection.from_state,
            to_state=selection.to_state,
            actor=self.actor,
            reason=self.reason,
            notes=self.notes,
            occurred_at=timezone.now(),
        )
        clauses += [f"audit AS ({events[0]})", f"feed AS ({events[1]})"]
        status = SUBSCRIPTION_STATUS_FOR_STATE.get(selection.to_state)
        if status is not None:
            follow, _ = status_follow_statement(
                status=status, deployment_ids_sql="SELECT id FROM moved", at=timezone.now()
            )
            clauses.append(f"follow AS ({follow})")
        drive = drive_resources_statement(
            to_state=selection.to_state,
            deployment_ids_sql="SELECT id FROM moved",
            at=timezone.now(),
        )
        if drive is not None:
            clauses.append(f"driven AS ({drive[0]})")
        sql = (
            f"WITH {', '.join(clauses)} "
            "SELECT c.locked, c.allowed, c.overridden, c.last, "
            "(SELECT count(*) FROM moved), "
            # this transaction's commit does not wait for its WAL flush (see
            # `durable_at_the_end`), unless it is part of a caller's
            "set_config('synchronous_commit', CASE WHEN %(asynchronous)s THEN 'off' "
            "ELSE current_setting('synchronous_commit') END, true), "
            # matching rows in the chunk's span that were not ours to lock
            + (
                "0"
                if nowait
                else f"(SELECT count(*) FROM {_TABLE} x WHERE {match_x} "
                f"AND ({self.rule.refusal_sql(self.actor, 'x')[0]}) "
                "AND x.id <= CASE WHEN c.locked < %(limit)s THEN %(hi)s ELSE c.last END) "
                "- c.allowed"
            )
            + (", r.*" if drive is not None else "")
            + " FROM (SELECT count(*) AS locked, "
            f"count(*) FILTER (WHERE {allowed_l}) AS allowed, "
            f"count(*) FILTER (WHERE NOT ({allowed_l}) AND {overridden_l}) AS overridden, "
            "(SELECT id FROM locked ORDER BY id DESC LIMIT 1) AS last FROM locked l) c"
            + (" LEFT JOIN driven r ON TRUE" if drive is not None else "")
        )
        self._statements[key] = (sql, params, drive is not None)
        return self._statements[key]

    def _chunk_values(self, at: datetime) -> dict:
        """The per-chunk values of the statement: the move's time everywhere."""
        selection = self.selection
        _, values = transition_events_statements(
            moved="moved",
            from_state=selection.from_state,
            to_state=selection.to_state,
            actor=self.actor,
            reason=self.reason,
            notes=self.notes,
            occurred_at=at,
        )
        values.update(
            {
                f"move_{column}": value
                for column, value in move_values(selection.to_state, at).items()
            }
        )
        status = SUBSCRIPTION_STATUS_FOR_STATE.get(selection.to_state)
        if status is not None:
            values.update(status_follow_statement(status=status, deployment_ids_sql="", at=at)[1])
        drive = drive_resources_statement(to_state=selection.to_state, deployment_ids_sql="", at=at)
        if drive is not None:
            values.update(drive[1])
        return values

    def _move_in_one_statement(
        self, span: _Span, lo: UUID, limit: int, retry: bool, asynchronous: bool, nowait: bool
    ) -> _ChunkOutcome:
        sql, params, drives = self._statement(span, retry, nowait)
        now = timezone.now()
        values = {**params, **self._chunk_values(now), **self._params(span, lo, limit)}
        values["asynchronous"] = asynchronous
        with server_binding_cursor() as cursor:
            cursor.execute(sql, values, binary=True)
            rows = cursor.fetchall()
        locked, allowed, overridden, last, moved, _, unlocked = rows[0][:7]
        if moved != allowed:  # the lock guarantees it; never silently
            raise DatabaseError(f"moved {moved} of {allowed} locked deployments")
        if drives:
            resources = [dict(zip(SHAPE_COLUMNS, row[7:], strict=True)) for row in rows]
            resources = [row for row in resources if row["id"] is not None]
            record_driven_resources(resources, actor=self.actor, at=now)
        full = locked == limit
        return _ChunkOutcome(
            taken=locked,
            moved=moved,
            overridden=overridden,
            not_allowed=locked - allowed - overridden,
            next_lo=_after(last) if full and last < span.hi else None,
            retry=_Span(lo, last if full else span.hi, span.ids) if unlocked > 0 else None,
        )

    # -- elsewhere (SQLite): the rows through Python ----------------------------------

    def _span_rows(self, span: _Span, lo: UUID):
        rows = self.candidates.filter(pk__gte=lo, pk__lte=span.hi)
        if span.ids is not None:
            rows = rows.filter(pk__in=span.ids)
        return rows

    def _move_row_by_row(self, span: _Span, lo: UUID, limit: int) -> _ChunkOutcome:
        rows = self._span_rows(span, lo)
        locked = [
            LockedRow(*row)
            for row in rows.select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("id", "tenant_id", "state", "billing_action_suspended")[:limit]
        ]
        movable, overridden, not_allowed = _validate(locked, self.rule, self.actor)
        if movable:
            now = timezone.now()
            ids = [row.id for row in movable]
            Deployment.objects.filter(pk__in=ids).update(
                **move_values(self.selection.to_state, now)
            )
            write_moves(
                deployment_ids=ids,
                from_state=self.selection.from_state,
                to_state=self.selection.to_state,
                actor=self.actor,
                reason=self.reason,
                notes=self.notes,
                at=now,
            )
        last = locked[-1].id if locked else None
        return _ChunkOutcome(
            taken=len(locked),
            moved=len(movable),
            overridden=overridden,
            not_allowed=not_allowed,
            next_lo=_after(last) if len(locked) == limit and last < span.hi else None,
        )

    # -- a chunk that failed ----------------------------------------------------------

    def _failed(
        self, span: _Span, lo: UUID, limit: int, retry: bool, exc: DatabaseError
    ) -> _ChunkOutcome:
        """The failed chunk's rows counted as failed, and the walk goes on past
        them (on a new connection when this one was lost). Raises when they
        cannot be read either: the run cannot go on."""
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
        rows = self._span_rows(span, lo)
        if retry:
            rows = rows.filter(**(self.rule.row_conditions(self.actor) or {}))
        taken = list(rows.order_by("pk").values_list("pk", flat=True)[:limit])
        count, last = len(taken), (taken[-1] if taken else None)
        error = f"{count} deployments from {lo}: {exc}"
        if not count:
            return _ChunkOutcome(error=error)
        return _ChunkOutcome(
            taken=count,
            failed=count,
            failed_ids=taken,
            error=error,
            next_lo=_after(last) if count == limit and last < span.hi else None,
        )


def _after(pk: UUID) -> UUID:
    return UUID(int=pk.int + 1)


def _validate(
    rows: Iterable[LockedRow], rule: Rule, actor: Actor
) -> tuple[list[LockedRow], int, int]:
    """(rows the actor may move, how many are overridden, how many the map
    refuses otherwise), each row asked through the same check as a single move."""
    movable: list[LockedRow] = []
    overridden = not_allowed = 0
    for row in rows:
        refusal = rule.refusal(row, actor)
        if refusal is None:
            movable.append(row)
        elif refusal is Refusal.OVERRIDDEN:
            overridden += 1
        else:
            not_allowed += 1
    return movable, overridden, not_allowed


def plan_batch(
    *, selection: BatchSelection, actor: Actor, batch_size: int = DEFAULT_BATCH_SIZE
) -> BatchResult:
    """What `transition_batch` would do now, without locking or writing:
    `would_move` lists the rows it would move; the skip counts are filled in."""
    rule = check_move(selection.from_state, selection.to_state, actor)
    candidates = selection.candidates(selection.cutoff(timezone.now()))
    result = BatchResult()
    for span in _spans(selection, batch_size, 1):
        lo: UUID | None = span.lo
        while lo is not None:
            rows = candidates.filter(pk__gte=lo, pk__lte=span.hi)
            if span.ids is not None:
                rows = rows.filter(pk__in=span.ids)
            chunk = list(
                rows.order_by("pk").values_list(
                    "id",
                    "tenant_id",
                    "state",
                    "billing_action_suspended",
                    "tenant__slug",
                    "slug",
                    "state_since",
                )[:batch_size]
            )
            result.matched += len(chunk)
            movable, overridden, not_allowed = _validate(
                (LockedRow(*row[:4]) for row in chunk), rule, actor
            )
            result.skipped_overridden += overridden
            result.skipped_not_allowed += not_allowed
            by_id = {row[0]: row for row in chunk}
            for locked_row in movable:
                row = by_id[locked_row.id]
                result.would_move.append((locked_row.id, row[4], row[5], row[6]))
            last = chunk[-1][0] if chunk else None
            lo = _after(last) if len(chunk) == batch_size and last < span.hi else None
    return result
