"""Cloud resource write services (SPEC §8): what tenants and operators ask for,
what the lifecycle imposes, and what controllers report.

Locks, always in this order, so no two writers wait on each other in a cycle:
the deployment row first (`SELECT ... FOR UPDATE` through the actor's scope),
then its resources. Every service that changes what is wanted of a resource
holds the deployment's lock: the quota is decided under it (`deployments.
entitlements`), a transition (which holds it too) cannot slip between a state
check and a write, and the lifecycle's set-based UPDATE (`drive_resources`,
inside the transition's transaction) sees every committed request. A status
report changes only what is observed and locks just its resource row.

Every change records its `resource.*` event in the same transaction
(`deployments.resource_events`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from arcadia_cloud.actors import CONTROLLER, Actor
from arcadia_cloud.db import server_binding_cursor
from arcadia_cloud.errors import Forbidden
from arcadia_cloud.scope import scope_for
from catalog.selectors import resource_kind_is_defined
from deployments import selectors
from deployments.entitlements import entitlements_of
from deployments.errors import (
    DeploymentNotRunning,
    ResourceDeleted,
    ResourceNameTaken,
    ResourceNotFound,
    StaleGeneration,
    UnknownResourceKind,
)
from deployments.models import (
    CloudResource,
    Deployment,
    DesiredState,
    ObservedState,
    State,
)
from deployments.resource_events import (
    SHAPE_COLUMNS,
    record_resource_changes,
    record_resource_created,
    record_resource_deleted,
    record_resource_status_changed,
    record_resource_updated,
)

#: Deployment states in which resources may be created, grown or started.
RUNNING_STATES = frozenset({State.ACTIVE.value, State.TRIAL.value})
#: What a tenant (or an operator) may ask a resource to be; `deleted` is asked
#: with `delete_resource`.
REQUESTABLE_STATES = (DesiredState.RUNNING.value, DesiredState.STOPPED.value)

_UNIQUE_NAME = "resource_name_unique_per_deployment"


def _refuse_controllers(actor: Actor) -> None:
    # A controller sees every tenant (scope_for) but only reports status.
    if actor.kind == CONTROLLER:
        raise Forbidden()


def _lock_resource_and_deployment(
    resource_id: UUID, actor: Actor
) -> tuple[Deployment, CloudResource]:
    """The resource (in the actor's scope) and its deployment, both locked, the
    deployment first. Two queries: the deployment is found through the
    resource in the locking statement itself."""
    visible = scope_for(actor).filter(CloudResource.objects.filter(pk=resource_id))
    deployment = (
        Deployment.objects.select_for_update()
        .filter(pk__in=visible.values("deployment_id"))
        .first()
    )
    if deployment is None:
        raise ResourceNotFound()
    resource = CloudResource.objects.select_for_update().get(pk=resource_id)
    return deployment, resource


def _check_fields(**values) -> None:
    """ValidationError (by field) for values the model refuses: the API's
    serializer already checks them; the admin and the demo call in directly."""
    given = {name: value for name, value in values.items() if value is not None}
    probe = CloudResource(**given)
    exclude = [f.name for f in CloudResource._meta.fields if f.name not in given]
    probe.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    if values.get("qty") is not None and values["qty"] < 1:
        raise ValidationError({"qty": ["Ensure this value is greater than or equal to 1."]})
    desired = values.get("desired_state")
    if desired is not None and desired not in REQUESTABLE_STATES:
        raise ValidationError({"desired_state": [f"One of {list(REQUESTABLE_STATES)}."]})


def create_resource(
    *,
    deployment_id: UUID,
    kind: str,
    name: str,
    qty: int,
    actor: Actor,
    desired_state: str = DesiredState.RUNNING,
    at: datetime | None = None,
) -> CloudResource:
    """Create a resource of `kind` on a deployment, generation 1, observed
    `pending` (its controller has not seen it yet), and record
    `resource.created`.

    Invariant: the deployment's resources of `kind` never total more than its
    limit, however many requests race: the deployment row is locked first,
    then `entitlements_of` reads the sums (see there), then the row is
    written, all in one transaction. Raises, writing nothing:
    DeploymentNotFound (outside the actor's scope), DeploymentNotRunning (not
    active or trial), UnknownResourceKind (no plan or add-on defines the kind),
    QuotaExceeded, ResourceNameTaken (a resource of the deployment that is not
    deleted has the name; the partial unique index decides), ValidationError,
    Forbidden for a controller.
    """
    _refuse_controllers(actor)
    _check_fields(kind=kind, name=name, qty=qty, desired_state=desired_state)
    with transaction.atomic():
        deployment = selectors.lock_deployment_visible_to(actor, deployment_id)
        if deployment.state not in RUNNING_STATES:
            raise DeploymentNotRunning(deployment.state)
        entitlements = entitlements_of(deployment.pk)
        # A kind the deployment has no entitlement of is either unknown or
        # one it has none of (limit 0): the catalog tells which.
        if not entitlements.knows(kind) and not resource_kind_is_defined(kind):
            raise UnknownResourceKind(kind)
        entitlements.check_request(kind, qty)
        now = at or timezone.now()
        resource = CloudResource(
            deployment=deployment,
            tenant_id=deployment.tenant_id,
            kind=kind,
            name=name,
            qty=qty,
            desired_state=desired_state,
            created_at=now,
            updated_at=now,
        )
        try:
            resource.save(force_insert=True)
        except IntegrityError as exc:
            # Leaving the atomic block with the error rolls the insert back.
            if _UNIQUE_NAME in str(exc) or "UNIQUE constraint failed" in str(exc):
                raise ResourceNameTaken(name) from exc
            raise
        record_resource_created(resource, actor)
    return resource


def update_resource(
    *,
    resource_id: UUID,
    actor: Actor,
    qty: int | None = None,
    desired_state: str | None = None,
    at: datetime | None = None,
) -> CloudResource:
    """Change what is wanted of a resource: its `qty` and/or its desired state
    (`running` or `stopped`). Each change bumps the generation once and
    records `resource.updated`; asking for what it already is changes nothing
    and records nothing, except that asking a resource the lifecycle holds
    stopped to be `stopped` makes it the tenant's own stop (`held` false: it
    stays stopped when the deployment is active again).

    Growing (a larger qty) and starting are refused unless the deployment is
    active or trial (DeploymentNotRunning), and growing is checked against
    the limit like a create (QuotaExceeded, requested = the increase).
    Shrinking and stopping are always allowed. Locks the deployment, then the
    resource. Raises ResourceNotFound (outside the scope), ResourceDeleted,
    ValidationError, Forbidden for a controller.
    """
    _refuse_controllers(actor)
    _check_fields(qty=qty, desired_state=desired_state)
    with transaction.atomic():
        deployment, resource = _lock_resource_and_deployment(resource_id, actor)
        if resource.desired_state == DesiredState.DELETED:
            raise ResourceDeleted()
        grows = qty is not None and qty > resource.qty
        starts = desired_state == DesiredState.RUNNING and resource.desired_state != desired_state
        if (grows or starts) and deployment.state not in RUNNING_STATES:
            raise DeploymentNotRunning(deployment.state)
        if grows:
            entitlements_of(deployment.pk).check_request(resource.kind, qty - resource.qty)
        bump = (qty is not None and qty != resource.qty) or (
            desired_state is not None and desired_state != resource.desired_state
        )
        unhold = desired_state is not None and resource.held
        if not bump and not unhold:
            return resource
        if qty is not None:
            resource.qty = qty
        if desired_state is not None:
            resource.desired_state = desired_state
            resource.held = False
        if bump:
            resource.generation += 1
        resource.updated_at = at or timezone.now()
        resource.save(update_fields=["qty", "desired_state", "held", "generation", "updated_at"])
        record_resource_updated(resource, actor)
    return resource


def delete_resource(
    *, resource_id: UUID, actor: Actor, at: datetime | None = None
) -> CloudResource:
    """Ask for a resource to be deleted: desired `deleted`, generation bumped,
    `resource.deleted` recorded. Its qty stops counting towards the limit and
    its name is free at once; the row stays (the controller reports
    `deleted` when it is gone). Deleting a deleted resource changes nothing.
    Allowed in every deployment state. Locks the deployment, then the
    resource. Raises ResourceNotFound, Forbidden for a controller."""
    _refuse_controllers(actor)
    with transaction.atomic():
        _deployment, resource = _lock_resource_and_deployment(resource_id, actor)
        if resource.desired_state == DesiredState.DELETED:
            return resource
        resource.desired_state = DesiredState.DELETED
        resource.held = False
        resource.generation += 1
        resource.updated_at = at or timezone.now()
        resource.save(update_fields=["desired_state", "held", "generation", "updated_at"])
        record_resource_deleted(resource, actor)
    return resource


def report_status(
    *,
    resource_id: UUID,
    observed_state: str,
    observed_generation: int,
    actor: Actor,
    message: str = "",
    at: datetime | None = None,
) -> CloudResource:
    """A controller reports what it observes of a resource at a generation.

    Only controllers report (Forbidden for anyone else, before any lookup).
    The generation rules: a report for a generation the resource has not
    reached (`observed_generation > generation`) or older than the last one
    reported is StaleGeneration (409), so a late or replayed report never
    overwrites a newer one; a report at the same generation may update the
    state (e.g. `running` then `failed`). `resource.status_changed` is
    recorded only when the state, the generation or the message changed (a
    repeated report writes nothing). Locks the resource row only (it changes
    nothing the quota or the lifecycle reads). Raises ResourceNotFound,
    ValidationError.
    """
    if actor.kind != CONTROLLER:
        raise Forbidden()
    if observed_state not in ObservedState.values:
        raise ValidationError({"observed_state": [f"One of {ObservedState.values}."]})
    if observed_generation < 0:
        raise ValidationError({"observed_generation": ["Must be 0 or more."]})
    limit = CloudResource._meta.get_field("status_message").max_length
    if len(message) > limit:
        raise ValidationError(
            {"message": [f"Ensure this field has no more than {limit} characters."]}
        )
    with transaction.atomic():
        resource = (
            scope_for(actor)
            .filter(CloudResource.objects.all())
            .select_for_update()
            .filter(pk=resource_id)
            .first()
        )
        if resource is None:
            raise ResourceNotFound()
        if (
            observed_generation > resource.generation
            or observed_generation < resource.observed_generation
        ):
            raise StaleGeneration(
                reported=observed_generation,
                generation=resource.generation,
                observed_generation=resource.observed_generation,
            )
        if (resource.observed_state, resource.observed_generation, resource.status_message) == (
            observed_state,
            observed_generation,
            message,
        ):
            return resource
        now = at or timezone.now()
        resource.observed_state = observed_state
        resource.observed_generation = observed_generation
        resource.status_message = message
        resource.observed_at = now
        resource.updated_at = now
        resource.save(
            update_fields=[
                "observed_state",
                "observed_generation",
                "status_message",
                "observed_at",
                "updated_at",
            ]
        )
        record_resource_status_changed(resource, actor)
    return resource


# -- The lifecycle drives resources (set-based) -------------------------------------

#: to_state -> (the rows that change, what they become). paused and
#: suspended stop what runs and hold it; back to active, what was held runs
#: again; cancelled (and archived, which only follows cancelled) deletes all.
_STOP = ("desired_state = 'running'", "desired_state = 'stopped', held = TRUE")
_RESUME = ("held", "desired_state = 'running', held = FALSE")
_DELETE = ("desired_state <> 'deleted'", "desired_state = 'deleted', held = FALSE")
DRIVES: dict[str, tuple[str, str]] = {
    State.PAUSED: _STOP,
    State.SUSPENDED: _STOP,
    State.ACTIVE: _RESUME,
    State.CANCELLED: _DELETE,
    State.ARCHIVED: _DELETE,
}

_TABLE = CloudResource._meta.db_table


def drive_resources(
    *, deployment_ids: Sequence[UUID], to_state: str, actor: Actor, at: datetime
) -> int:
    """Make the resources of `deployment_ids`, which just moved to `to_state`,
    follow the lifecycle: one set-based UPDATE ... RETURNING (generation + 1
    on each changed row) and their `resource.updated` events in one more
    statement, whatever the number of deployments and resources; nothing at
    all for a state that drives nothing (trial, past_due).

    Runs inside the move's transaction, from `write_moves` (both move paths:
    one deployment or a batch chunk), whose caller holds the deployments'
    row locks: every other writer of what is wanted of these resources waits
    for them. Returns the number of resources changed.
    """
    drive = DRIVES.get(to_state)
    if drive is None or not deployment_ids:
        return 0
    rows = _update_returning(list(deployment_ids), *drive, at)
    return record_driven_resources(rows, actor=actor, at=at)


def drive_resources_statement(
    *, to_state: str, deployment_ids_sql: str, at: datetime
) -> tuple[str, dict] | None:
    """`drive_resources`'s UPDATE for the deployments `deployment_ids_sql`
    selects, as a statement for the caller's own (a data-modifying `WITH` of
    the set-based batch, PostgreSQL), RETURNING the changed resources'
    `SHAPE_COLUMNS` for `record_driven_resources`; None for a state that
    drives nothing. Named placeholders, and their values."""
    drive = DRIVES.get(to_state)
    if drive is None:
        return None
    where, assignments = drive
    sql = (
        f"UPDATE {_TABLE} SET {assignments}, generation = generation + 1, "
        f"updated_at = %(drive_at)s WHERE {where} AND deployment_id IN ({deployment_ids_sql}) "
        f"RETURNING {', '.join(SHAPE_COLUMNS)}"
    )
    return sql, {"drive_at": at}


def record_driven_resources(rows: list[dict], *, actor: Actor, at: datetime) -> int:
    """The `resource.updated` events of the resources a move changed (rows of
    `SHAPE_COLUMNS` values), one statement; returns how many."""
    if rows:
        # One deployment's events in its resources' (creation) order.
        rows.sort(key=lambda row: (row["deployment_id"], row["id"]))
        record_resource_changes(rows, actor=actor, occurred_at=at)
    return len(rows)


def _update_returning(deployment_ids: list[UUID], where: str, assignments: str, at: datetime):
    returning = ", ".join(SHAPE_COLUMNS)
    update = (
        f"UPDATE {_TABLE} SET {assignments}, generation = generation + 1, updated_at = %s "
        f"WHERE {where} AND deployment_id "
    )
    if connection.vendor == "postgresql" and len(deployment_ids) > 1:
        # A batch chunk: the ids as one array parameter, bound on the server
        # (as the batch locks its chunk): a 2,000-id IN list costs more to
        # build than the UPDATE.
        with server_binding_cursor() as cursor:
            cursor.execute(
                update + f"= ANY(%s) RETURNING {returning}", [at, deployment_ids], binary=True
            )
            return [dict(zip(SHAPE_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    # One deployment (the single-row path), or SQLite: Django's own cursor,
    # in its query log like the move's other statements.
    field = CloudResource._meta.get_field("deployment")
    ids = [field.get_db_prep_value(pk, connection) for pk in deployment_ids]
    placeholders = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            update + f"IN ({placeholders}) RETURNING {returning}",
            [CloudResource._meta.get_field("updated_at").get_db_prep_value(at, connection), *ids],
        )
        rows = [dict(zip(SHAPE_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    if connection.vendor == "sqlite":
        rows = [_from_sqlite(row) for row in rows]
    return rows


def _from_sqlite(row: dict) -> dict:
    """SQLite returns raw column values to a plain cursor: UUIDs as hex text,
    times as text, booleans as integers."""
    for column in ("id", "deployment_id", "tenant_id"):
        row[column] = UUID(row[column])
    for column in ("observed_at", "created_at", "updated_at"):
        if isinstance(row[column], str):
            value = parse_datetime(row[column])
            row[column] = value if value.tzinfo else value.replace(tzinfo=UTC)
    row["held"] = bool(row["held"])
    return row
