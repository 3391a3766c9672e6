"""The set-based path: moving many deployments at once, at database speed.

A deployment changes state through one of two paths: `transition_state` (one
row per transaction, for the API, the admin and the clock) and this module (a
set of rows, for the batch command: dunning `past_due -> suspended`, clean-up
`cancelled -> archived`). The two share the check and the write: every locked
row is checked with the same `deployments.transitions.decide` (map, actor,
operator override), moved rows get exactly `Deployment.MOVE_COLUMNS` (from
`move_values`), and `write_moves` writes their events and makes their
subscriptions follow. What differs is only the shape of the writes:

1. select the matching ids (a selector), in primary-key order;
2. walk them in chunks, one transaction per chunk:
   - lock the chunk with `SELECT ... FOR UPDATE SKIP LOCKED`, re-checking the
     state filter: a row another runner has already moved no longer matches,
     a row it is moving right now is locked and skipped, so two runners on
     two machines never move a deployment twice;
   - `decide` each locked row;
   - move the allowed ones with ONE set-based UPDATE of MOVE_COLUMNS, and
     `write_moves` them (events by COPY on PostgreSQL, one subscriptions
     UPDATE);
3. give the rows skipped as locked one more pass at the end (a lock held by
   a single API transition is released in milliseconds), make every chunk
   durable with one synchronous commit, then report.

On PostgreSQL the chunks are shared out between `workers` threads, each on
its own connection (two by default): exactly what two runners on two
machines do, so it needs no rule of its own, and it lets the database use a
second core, which a single UPDATE statement never does. Inside a caller's
transaction (tests, or a caller that wants all-or-nothing) the chunks run on
the caller's connection, one after the other: other connections could not see
its uncommitted rows.

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

from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from arcadia_cloud.actors import Actor
from arcadia_cloud.db import server_binding_cursor
from deployments import selectors
from deployments.events import check_actor_label, check_reason
from deployments.models import Deployment
from deployments.transitions import Refusal, Rule, check_move, move_values, write_moves

logger = logging.getLogger(__name__)

DEFAULT_ACTOR = "system:transition_deployments"
DEFAULT_BATCH_SIZE = 2000
MAX_BATCH_SIZE = 50_000
DEFAULT_WORKERS = 2
MAX_WORKERS = 8

_TABLE = Deployment._meta.db_table

# The rows of a chunk on PostgreSQL: the ids as ONE array parameter (a
# 1,000-item `IN (...)` costs more to build and plan than the lock itself),
# bounded by the chunk's first and last id so the planner walks that slice of
# the primary key instead of scanning the table for every chunk (which made
# the run quadratic in the number of matching rows).
_IDS_IN_CHUNK = "id >= %s AND id <= %s AND id = ANY(%b)"


def _chunk_params(sorted_ids: list[UUID]) -> list:
    return [sorted_ids[0], sorted_ids[-1], sorted_ids]


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
    """The columns of a locked deployment the map's permission reads.

    `decide` is asked with this instead of a full `Deployment`: building model
    instances costs ~12 µs a row, more than the whole set-based UPDATE. The
    map's permissions (`deployments.models.may`) read `tenant_id` and
    `billing_action_suspended`.
    """

    id: UUID
    tenant_id: UUID
    state: str
    billing_action_suspended: bool
    #: PostgreSQL: the locked row version's physical address, so the UPDATE
    #: goes straight to it instead of looking every id up in the primary key
    #: again. Stable while the lock is held: only its holder can change the row.
    ctid: str | None = None


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


@dataclass
class _ChunkOutcome:
    """What one chunk's transaction did; merged into the run's result by the
    thread that reports progress, so workers share no mutable state."""

    moved: int = 0
    overridden: int = 0
    not_allowed: int = 0
    failed: int = 0
    error: str | None = None
    failed_ids: list[UUID] = field(default_factory=list)
    #: ids that were not locked: moved by another runner, or locked right now
    not_locked: list[UUID] = field(default_factory=list)


def _chunks(ids: list[UUID], size: int) -> Iterator[list[UUID]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


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
    `in_state_for`, had been for that long) when it was locked, passed
    `decide(from, to, actor, row)`, and gets exactly one event (actor label,
    reason, from/to, occurred_at = its new state_since). Overridden rows
    (`billing_action_suspended`) are refused by the map's permission for a
    system actor, and counted as skipped, unless the actor was built with
    `include_overridden`.
    Locks: one transaction per chunk, rows locked in primary-key order with
    SKIP LOCKED. Side effects: the moved rows' subscriptions follow, once per
    chunk, in the chunk's transaction. A chunk whose transaction fails is
    rolled back and counted as failed; the following chunks still run.
    `workers` chunks run at once, each on its own connection, on PostgreSQL
    outside a transaction (one at a time otherwise; see the module's notes).
    `on_progress(done, total)` is called after each chunk, on the calling thread.
    Raises before reading anything: InvalidTransition / TransitionForbidden (the
    map, asked for the actor without a row), ValidationError (a reason or actor
    label longer than the audit columns). A database error outside a chunk (the
    selection, a connection that cannot be re-opened) raises BatchInterrupted
    with the counts of what did commit.
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
    )
    try:
        _run_all(run, selection, batch_size, workers, on_progress)
    except DatabaseError as exc:
        raise BatchInterrupted(run.result, exc) from exc
    return run.result


def _run_all(
    run: _Run,
    selection: BatchSelection,
    batch_size: int,
    workers: int,
    on_progress: Callable[[int, int], None] | None,
) -> None:
    ids = selectors.batch_candidate_ids(run.candidates, ids=selection.ids)
    run.result.matched = len(ids)
    chunks = list(_chunks(ids, batch_size))
    with _durable_at_the_end():
        done = 0
        retry: list[UUID] = []
        for chunk, outcome in _move_all(run, chunks, workers):
            run.absorb(outcome)
            retry.extend(outcome.not_locked)
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, len(ids))
        # A row skipped as locked may have been held by a short transaction
        # that has since let it go unchanged: one more pass, so it is not
        # missed. A row another runner has moved meanwhile no longer matches
        # and stays skipped.
        for chunk in _chunks(retry, batch_size):
            outcome = run.move_chunk(chunk)
            run.absorb(outcome)
            run.result.skipped_changed_or_locked += len(outcome.not_locked)


def _parallel(workers: int, chunks: int) -> bool:
    return (
        workers > 1
        and chunks > 1
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    )


def _move_all(
    run: _Run, chunks: list[list[UUID]], workers: int
) -> Iterator[tuple[list[UUID], _ChunkOutcome]]:
    """(chunk, outcome) for every chunk, in the order they finish."""
    if not _parallel(workers, len(chunks)):
        for chunk in chunks:
            yield chunk, run.move_chunk(chunk)
        return
    todo: queue.SimpleQueue[list[UUID]] = queue.SimpleQueue()
    for chunk in chunks:
        todo.put(chunk)
    finished: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    exited = object()  # a worker's last message, after all its outcomes

    def work() -> None:
        # This thread's own connection: Django keeps one per thread.
        error = None
        try:
            with _asynchronous_commits():
                while not stop.is_set():
                    try:
                        chunk = todo.get_nowait()
                    except queue.Empty:
                        return
                    finished.put((chunk, run.move_chunk(chunk)))
        except BaseException as exc:  # re-raised on the calling thread
            error = exc
        finally:
            connections.close_all()
            finished.put((exited, error))

    threads = [
        threading.Thread(target=work, name=f"transition-batch-{n}", daemon=True)
        for n in range(min(workers, len(chunks)))
    ]
    for thread in threads:
        thread.start()
    # Until every worker has exited: a chunk another worker committed after one
    # failed is still reported (the other workers take over its share of
    # chunks; what none could take is left unmoved, and the error raised).
    error = None
    running = len(threads)
    try:
        while running:
            first, second = finished.get()
            if first is exited:
                running -= 1
                error = error or second
                continue
            yield first, second
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    if error is not None:
        raise error


@contextmanager
def _durable_at_the_end():
    """Commit the chunks without waiting for each one's WAL flush, and make all
    of them durable with one synchronous commit before returning.

    A chunk is one transaction, so each is all-or-nothing either way; what
    asynchronous commit changes is only *when* its commit reaches disk. Waiting
    for that flush once per chunk costs ~15% of a 100k-row run here. The final
    synchronous commit flushes the WAL up to its own record, which lies after
    every chunk's (the workers' too: they have all finished), so everything the
    summary reports as moved is durable when it is printed. A crash mid-run can
    lose the last ~0.6 s of chunks whole (state and events together); they
    were never reported, and the next run, which is idempotent, moves them.
    """
    if connection.vendor != "postgresql":
        yield
        return
    try:
        with _asynchronous_commits():
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


@contextmanager
def _asynchronous_commits():
    """`synchronous_commit = off` on this thread's connection, for the block."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        except DatabaseError:
            # The connection was lost meanwhile: the setting went with it.
            connection.close()


@dataclass
class _Run:
    rule: Rule
    selection: BatchSelection
    actor: Actor
    reason: str
    cutoff: datetime | None
    notes: str = ""
    result: BatchResult = field(default_factory=BatchResult)

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

    def move_chunk(self, chunk: list[UUID]) -> _ChunkOutcome:
        """Lock, validate and move one chunk in one transaction. Safe to call
        from several threads at once: it touches only its own rows and its
        thread's connection."""
        to_state = self.selection.to_state
        try:
            with transaction.atomic():
                locked = self._lock(chunk)
                movable, overridden, not_allowed = _validate(locked, self.rule, self.actor)
                if movable:
                    now = timezone.now()
                    self._update(movable, now)
                    write_moves(
                        deployment_ids=[row.id for row in movable],
                        from_state=self.selection.from_state,
                        to_state=to_state,
                        actor=self.actor,
                        reason=self.reason,
                        notes=self.notes,
                        at=now,
                    )
        except DatabaseError as exc:
            logger.exception("Batch chunk of %d deployments failed", len(chunk))
            return _ChunkOutcome(
                failed=len(chunk),
                failed_ids=list(chunk),
                error=f"{len(chunk)} deployments from {chunk[0]}: {exc}",
            )
        seen = {row.id for row in locked}
        return _ChunkOutcome(
            moved=len(movable),
            overridden=overridden,
            not_allowed=not_allowed,
            not_locked=[pk for pk in chunk if pk not in seen],
        )

    def _lock(self, chunk: list[UUID]) -> list[LockedRow]:
        """`SELECT ... FOR UPDATE SKIP LOCKED` of the chunk's rows that still match.

        The state filter is re-checked under the lock: a row another runner
        moved since the selection no longer matches, and one it holds right
        now is skipped instead of waited for, so no deployment is moved twice
        and two runners never queue behind each other. On PostgreSQL the ids
        travel as one array parameter (see `_IDS_IN_CHUNK`).
        """
        if connection.vendor != "postgresql":
            return [
                LockedRow(*row)
                for row in self.candidates.filter(pk__in=chunk)
                .select_for_update(skip_locked=True)
                .order_by("pk")
                .values_list("id", "tenant_id", "state", "billing_action_suspended")
            ]
        sql = (
            f"SELECT id, tenant_id, state, billing_action_suspended, ctid::text FROM {_TABLE} "
            f"WHERE {_IDS_IN_CHUNK} AND state = %s"
        )
        params: list = [*_chunk_params(chunk), self.selection.from_state]
        if self.cutoff is not None:
            sql += " AND state_since <= %s"
            params.append(self.cutoff)
        with server_binding_cursor() as cursor:
            cursor.execute(sql + " ORDER BY id FOR UPDATE SKIP LOCKED", params, binary=True)
            return [LockedRow(*row) for row in cursor.fetchall()]

    def _update(self, rows: list[LockedRow], now: datetime) -> None:
        """ONE set-based UPDATE of the chunk's valid (locked) rows; on
        PostgreSQL by the locked versions' ctids (a TID scan: no second walk
        of the primary key for every row)."""
        values = move_values(self.selection.to_state, now)
        if connection.vendor != "postgresql":
            Deployment.objects.filter(pk__in=[row.id for row in rows]).update(**values)
            return
        assignments = ", ".join(f"{column} = %s" for column in values)
        with server_binding_cursor() as cursor:
            cursor.execute(
                f"UPDATE {_TABLE} SET {assignments} WHERE ctid = ANY(%s::text[]::tid[])",
                [*values.values(), [row.ctid for row in rows]],
            )
            if cursor.rowcount != len(rows):  # the lock guarantees it; never silently
                raise DatabaseError(f"updated {cursor.rowcount} of {len(rows)} locked deployments")


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
    ids = selectors.batch_candidate_ids(candidates, ids=selection.ids)
    result = BatchResult(matched=len(ids))
    for chunk in _chunks(ids, batch_size):
        rows = (
            candidates.filter(pk__in=chunk)
            .order_by("pk")
            .values_list(
                "id",
                "tenant_id",
                "state",
                "billing_action_suspended",
                "tenant__slug",
                "slug",
                "state_since",
            )
        )
        by_id = {row[0]: row for row in rows}
        locked = [LockedRow(*row[:4]) for row in by_id.values()]
        movable, overridden, not_allowed = _validate(locked, rule, actor)
        result.skipped_overridden += overridden
        result.skipped_not_allowed += not_allowed
        result.skipped_changed_or_locked += len(chunk) - len(by_id)
        for locked_row in movable:
            row = by_id[locked_row.id]
            result.would_move.append((locked_row.id, row[4], row[5], row[6]))
    return result
