"""Moving every subscriber of one plan version to another, at batch speed.

`manage.py migrate_plan_version` is the set-based counterpart of
`subscriptions.services.change_plan_version` (a price change: subscribers of
v1 move to v2), with the same rules (`check_plan_change`): the target must be
on sale and priced in the same currency (decided once for the run, since
every subscriber of one version shares its currency), a cancelled
subscription is not moved (counted as skipped), and every move records one
`PlanChange` and one `subscription.plan_changed` event, in the same
transaction as the move.

The walk is the batch's: keyset chunks in subscription-id order, one
transaction each, the deployment rows locked with `FOR UPDATE SKIP LOCKED`
(every writer of a deployment and its subscription locks the deployment
first), so two runners on two machines split the work and never move a
subscription twice; `--workers N` does the same on N connections. On
PostgreSQL a chunk is a fixed number of statements: the lock, one UPDATE,
one INSERT of the plan changes and one INSERT ... SELECT of the events (the
subscription's shape built in SQL: `subscriptions.shapes.subscription_shape_sql`).
Elsewhere (the SQLite quick start) each subscription goes through
`change_plan_version` itself.

With `effective="period_end"` each subscription gets the change scheduled for
the end of its current period instead (`schedule_plan_change`, one at a
time: a schedule replaces an earlier one and records both facts). A subscriber
whose resources in use would exceed the new version's limits (the quota rule,
`deployments.entitlements`) is not moved and is counted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from uuid import UUID

from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from arcadia_cloud.actors import Actor
from arcadia_cloud.db import fetch_rows, server_binding_cursor, walk_in_threads
from arcadia_cloud.errors import DomainError
from catalog.errors import PlanOrVersionNotFound
from catalog.models import Plan, PlanVersion
from catalog.selectors import live_versions
from deployments.batch import durable_at_the_end
from deployments.entitlements import over_quota_with_version, resources_in_use
from deployments.errors import QuotaExceeded
from deployments.events import check_actor_label, check_reason
from deployments.models import Deployment
from deployments.scheduling import schedule_plan_change
from deployments.services import change_subscription_plan
from feed.record import record_events_from_select
from subscriptions.errors import CurrencyMismatch, PlanVersionUnchanged
from subscriptions.models import PlanChange, Status, Subscription
from subscriptions.shapes import subscription_shape_sql

logger = logging.getLogger(__name__)

DEFAULT_ACTOR = "system:migrate_plan_version"
DEFAULT_BATCH_SIZE = 2000
MAX_BATCH_SIZE = 50_000
MAX_WORKERS = 8
NOW, PERIOD_END = "now", "period_end"

#: Subscriptions a migration moves: a cancelled one keeps its terms.
MOVABLE = (Status.ACTIVE, Status.PAUSED)


@dataclass(frozen=True)
class Migration:
    plan_code: str
    from_version: int
    to_version: int
    effective: str = NOW
    tenant_id: UUID | None = None


@dataclass
class MigrationResult:
    matched: int = 0
    moved: int = 0
    scheduled: int = 0
    skipped_cancelled: int = 0
    #: the resources in use would exceed the new version's limits
    skipped_quota: int = 0
    skipped_locked: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    #: dry run only: (subscription id, deployment id)
    would_move: list[tuple[int, UUID]] = field(default_factory=list)

    def absorb(self, other: MigrationResult) -> None:
        for name in ("moved", "scheduled", "skipped_quota", "skipped_locked", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)


class MigrationInterrupted(Exception):
    """The run stopped on a database error outside any chunk; `result` counts
    exactly what committed."""

    def __init__(self, result: MigrationResult, cause: BaseException):
        super().__init__(str(cause))
        self.result = result
        self.cause = cause


def resolve(migration: Migration) -> tuple[PlanVersion, PlanVersion]:
    """(from, to) versions; the run-wide rules of `check_plan_change` decided
    once: the target must be on sale, a different version, in the same
    currency. Raises before anything is read."""
    versions = {
        v.version: v
        for v in PlanVersion.objects.select_related("plan").filter(
            plan__code=migration.plan_code,
            version__in=[migration.from_version, migration.to_version],
        )
    }
    source = versions.get(migration.from_version)
    target = (
        live_versions()
        .select_related("plan")
        .filter(plan__code=migration.plan_code, version=migration.to_version)
        .first()
    )
    if source is None or target is None:
        raise PlanOrVersionNotFound()
    if source.pk == target.pk:
        raise PlanVersionUnchanged()
    if source.currency != target.currency:
        raise CurrencyMismatch(source.currency, target.currency)
    return source, target


def _subscribers(source: PlanVersion, migration: Migration):
    rows = Subscription.objects.filter(plan_version=source)
    if migration.tenant_id is not None:
        rows = rows.filter(deployment__tenant_id=migration.tenant_id)
    return rows


def migrate_plan_version(
    *,
    migration: Migration,
    actor: Actor,
    reason: str = "",
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = 1,
    dry_run: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> MigrationResult:
    """Move (or schedule) every movable subscriber of `migration.from_version`
    (see the module docstring). Raises before reading a row when the run
    cannot happen (PlanOrVersionNotFound, PlanVersionUnchanged,
    CurrencyMismatch, a reason or actor label too long); a database error
    outside a chunk raises MigrationInterrupted with what committed."""
    check_reason(reason)
    check_actor_label(actor.label)
    source, target = resolve(migration)
    subscribers = _subscribers(source, migration)
    result = MigrationResult()
    try:
        result.matched = subscribers.count()
        result.skipped_cancelled = subscribers.exclude(status__in=MOVABLE).count()
        total = result.matched - result.skipped_cancelled
        if dry_run:
            result.would_move = list(
                subscribers.filter(status__in=MOVABLE)
                .order_by("pk")
                .values_list("pk", "deployment_id")
            )
            return result
        run = _Run(migration, source, target, actor, reason, subscribers.filter(status__in=MOVABLE))
        walkers = workers if _parallel(workers) else 1
        done = 0
        with durable_at_the_end():
            for outcome, rows in _walk_all(run, batch_size, walkers):
                result.absorb(outcome)
                done += rows
                if on_progress is not None:
                    on_progress(min(done, total), total)
        # What another writer held all along (and is still to do): neither
        # moved nor failed; a second run picks it up.
        done_now = result.scheduled if migration.effective == PERIOD_END else 0
        left = subscribers.filter(status__in=MOVABLE).count() - done_now
        result.skipped_locked = max(0, left - result.failed - result.skipped_quota)
    except DatabaseError as exc:
        raise MigrationInterrupted(result, exc) from exc
    return result


def _parallel(workers: int) -> bool:
    return workers > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block


@dataclass
class _Run:
    migration: Migration
    source: PlanVersion
    target: PlanVersion
    actor: Actor
    reason: str
    movable: object

    def chunk(
        self, *, after: int, limit: int, skip: frozenset[int] = frozenset()
    ) -> tuple[MigrationResult, list[int], list[int]]:
        """(what the chunk did, the ids it locked, the ids it left on the
        source version on purpose: over quota)."""
        outcome = MigrationResult()
        over: set[int] = set()
        asynchronous = connection.vendor == "postgresql" and not connection.in_atomic_block
        with transaction.atomic():
            rows, in_use = self._lock(
                after=after, limit=limit, skip=skip, asynchronous=asynchronous
            )
            ids = [pk for pk, _ in rows]
            if not ids:
                return outcome, ids, []
            if self.migration.effective == PERIOD_END or connection.vendor != "postgresql":
                over = self._one_by_one(rows, outcome)
            else:
                # The quota rule, for the whole chunk at once: a subscriber whose
                # resources in use would exceed the new version's limits stays.
                using = [(pk, deployment) for pk, deployment in rows if deployment in in_use]
                over = over_quota_with_version(using, self.target) if using else set()
                outcome.skipped_quota = len(over)
                outcome.moved = self._move([pk for pk in ids if pk not in over])
        return outcome, ids, sorted(over)

    def _lock(
        self, *, after: int, limit: int, skip: frozenset[int], asynchronous: bool = False
    ) -> tuple[list[tuple[int, UUID]], set[UUID] | None]:
        """(subscription id, deployment id) of the chunk, the deployments locked,
        and (PostgreSQL) which of those deployments have resources in use.
        With `asynchronous`, the chunk's commit does not wait for its WAL flush
        (for this transaction only; `durable_at_the_end` makes the run durable)."""
        rows = self.movable.filter(pk__gt=after).exclude(pk__in=skip).order_by("pk")
        if connection.vendor != "postgresql":
            return list(fetch_rows(rows.values_list("pk", "deployment_id")[:limit])), None
        # The deployment rows are locked (see the module docstring); Django's
        # select_for_update(of=...) needs a select_related, so the clause is
        # added to the queryset's own SQL.
        # Whether each deployment has resources in use comes with the lock: only
        # those can exceed a limit, so the quota rule reads nothing more for
        # the others.
        rows = rows.filter(deployment__state__isnull=False)  # joined, not outer-joined
        rows = rows.annotate(
            uses=Exists(resources_in_use().filter(deployment_id=OuterRef("deployment_id")))
        )
        query = rows.values_list("pk", "deployment_id", "uses")[:limit].query
        sql, params = query.sql_with_params()
        table = connection.ops.quote_name(Deployment._meta.db_table)
        with server_binding_cursor() as cursor:
            if asynchronous:
                cursor.execute("SELECT set_config('synchronous_commit', 'off', true)")
            cursor.execute(f"{sql} FOR UPDATE OF {table} SKIP LOCKED", params, binary=True)
            locked = cursor.fetchall()
        using = {deployment_id for _, deployment_id, uses in locked if uses}
        return [(pk, deployment_id) for pk, deployment_id, _ in locked], using

    def _move(self, ids: list[int]) -> int:
        """The set-based move of one chunk: UPDATE, plan changes, events."""
        now = timezone.now()
        subscriptions = connection.ops.quote_name(Subscription._meta.db_table)
        changes = connection.ops.quote_name(PlanChange._meta.db_table)
        request_id = self.actor.request_id or ""
        with server_binding_cursor() as cursor:
            cursor.execute(
                f"UPDATE {subscriptions} SET plan_version_id = %s, updated_at = %s "
                "WHERE id = ANY(%s) AND plan_version_id = %s AND status = ANY(%s) RETURNING id",
                [self.target.pk, now, ids, self.source.pk, list(MOVABLE)],
            )
            moved = sorted(row[0] for row in cursor.fetchall())
            if not moved:
                return 0
            cursor.execute(
                f"INSERT INTO {changes} (subscription_id, from_version_id, to_version_id, "
                "changed_at, actor, request_id) "
                "SELECT m.id, %s, %s, %s, %s, %s FROM unnest(%s::bigint[]) AS m(id) "
                "ORDER BY m.id RETURNING id",
                [self.source.pk, self.target.pk, now, self.actor.label, request_id, moved],
            )
            change_ids = [row[0] for row in cursor.fetchall()]
        self._record(change_ids, now)
        return len(moved)

    def _record(self, change_ids: list[int], now) -> None:
        shared = {
            "from_version": _version_data(self.source),
            "to_version": _version_data(self.target),
            "notes": self.reason,
            "actor": self.actor.label,
            "request_id": self.actor.request_id or "",
        }
        table = connection.ops.quote_name
        record_events_from_select(
            type="subscription.plan_changed",
            select_sql=(
                "SELECT d.tenant_id, s.deployment_id, pc.changed_at AS occurred_at, "
                "%s::jsonb || jsonb_build_object('plan_change_id', pc.id, 'subscription', "
                f"{subscription_shape_sql('s', 'v', 'p')}) AS data, pc.request_id "
                f"FROM {table(PlanChange._meta.db_table)} pc "
                f"JOIN {table(Subscription._meta.db_table)} s ON s.id = pc.subscription_id "
                f"JOIN {table(Deployment._meta.db_table)} d ON d.id = s.deployment_id "
                f"JOIN {table(PlanVersion._meta.db_table)} v ON v.id = s.plan_version_id "
                f"JOIN {table(Plan._meta.db_table)} p ON p.id = v.plan_id "
                "WHERE pc.id = ANY(%s) ORDER BY pc.id"
            ),
            params=[json.dumps(shared), change_ids],
        )

    def _one_by_one(self, rows: list[tuple[int, UUID]], outcome: MigrationResult) -> set[int]:
        """Each subscription through the single-row services (a schedule, or
        the SQLite quick start): the same rules, a refusal counted. Returns the
        ids left on the source version on purpose (over quota, refused)."""
        kept: set[int] = set()
        for pk, deployment_id in rows:
            try:
                with transaction.atomic():
                    if self.migration.effective == PERIOD_END:
                        schedule_plan_change(
                            deployment_id=deployment_id,
                            plan_code=self.target.plan.code,
                            version=self.target.version,
                            actor=self.actor,
                            reason=self.reason,
                        )
                    else:
                        change_subscription_plan(
                            deployment_id=deployment_id,
                            plan_code=self.target.plan.code,
                            version=self.target.version,
                            actor=self.actor,
                            notes=self.reason,
                        )
            except QuotaExceeded:
                outcome.skipped_quota += 1
                kept.add(pk)
                continue
            except DomainError as exc:
                outcome.failed += 1
                outcome.errors.append(f"deployment {deployment_id}: {exc.code}")
                kept.add(pk)
                continue
            if self.migration.effective == PERIOD_END:
                outcome.scheduled += 1
            else:
                outcome.moved += 1
        return kept


def _version_data(version: PlanVersion) -> dict:
    return {
        "plan_version_id": version.pk,
        "plan_code": version.plan.code,
        "plan_version": version.version,
        "price_cents": version.price_cents,
        "currency": version.currency,
    }


def _walk_all(run: _Run, batch_size: int, walkers: int) -> Iterator[tuple[MigrationResult, int]]:
    return walk_in_threads(lambda: _walk(run, batch_size), walkers, "plan-migration")


def _walk(run: _Run, batch_size: int) -> Iterator[tuple[MigrationResult, int]]:
    """Chunks in id order (keyset: each starts after the last id of the one
    before); then, when rows were locked by another writer meanwhile, one more
    pass from the start. Rows the first pass left on the source version on
    purpose (over quota, failed) are not looked at again: only they are
    remembered, not every row seen, so memory stays flat in the number of
    subscriptions."""
    left_alone: set[int] = set()
    expected_left = 0
    for sweep in range(2):
        if sweep == 1:
            if run.migration.effective == PERIOD_END:
                return
            # Rows still to move beyond those left alone on purpose: locked
            # by another writer during the first pass (or new meanwhile).
            if run.movable.count() <= expected_left:
                return
        after = 0
        while True:
            try:
                outcome, ids, kept = run.chunk(
                    after=after, limit=batch_size, skip=frozenset(left_alone)
                )
            except DatabaseError as exc:
                logger.exception("Plan migration chunk after subscription %s failed", after)
                if not connection.in_atomic_block:
                    connection.close_if_unusable_or_obsolete()
                skipped = list(
                    run.movable.filter(pk__gt=after)
                    .exclude(pk__in=left_alone)
                    .order_by("pk")
                    .values_list("pk", flat=True)[:batch_size]
                )
                if not skipped:
                    break
                left_alone.update(skipped)
                expected_left += len(skipped)
                failed = MigrationResult(failed=len(skipped))
                failed.errors.append(f"{len(skipped)} subscriptions from {skipped[0]}: {exc}")
                after = skipped[-1]
                yield failed, len(skipped)
                continue
            if not ids:
                break
            left_alone.update(kept)
            expected_left += len(kept)
            after = ids[-1]
            yield outcome, len(ids)
