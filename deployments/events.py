"""The only writers of a deployment's audit rows, each with its feed event.

Every fact is recorded once, with its event in the feed (`feed.record`), in
the transaction that writes the fact: one helper per kind of fact. Audit rows
and feed events are append-only: this module inserts, nothing anywhere
updates or deletes.
"""

from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import connection, models
from django.utils import timezone

from arcadia_cloud.actors import Actor
from arcadia_cloud.db import copy_text, server_binding_cursor
from deployments.models import BillingOverrideChange, Deployment, DeploymentEvent
from deployments.shapes import deployment_shape_sql, event_view
from feed.record import (
    NewEvent,
    events_from_select_statement,
    record_event,
    record_event_with,
    record_events,
    record_events_from_select,
)


def check_reason(reason: str | None, *, model: type[models.Model] = DeploymentEvent) -> None:
    """Refuse a reason longer than the audit column before anything is locked or
    written. The API's serializer already limits it; the admin and the batch
    command reach the services without one, and PostgreSQL would raise."""
    limit = model._meta.get_field("reason").max_length
    if reason and len(reason) > limit:
        raise ValidationError(
            {"reason": [f"Ensure this field has no more than {limit} characters."]}
        )


def check_actor_label(label: str) -> None:
    """Refuse an actor label longer than the audit column before anything is
    locked or written (identities' emails always fit; a batch's `--actor` is
    free text)."""
    limit = DeploymentEvent._meta.get_field("actor").max_length
    if len(label) > limit:
        raise ValidationError(
            {"actor": [f"Ensure this field has no more than {limit} characters."]}
        )


def _move_data(
    *, from_state: str | None, to_state: str, actor: Actor, reason: str, notes: str
) -> dict:
    return {
        "from_state": from_state,
        "to_state": to_state,
        "actor": actor.label,
        "reason": reason or "",
        "notes": notes or "",
        "request_id": actor.request_id or "",
    }


def record_transition(
    *,
    deployment: Deployment,
    from_state: str | None,
    to_state: str,
    actor: Actor,
    reason: str = "",
    notes: str = "",
    occurred_at: datetime | None = None,
) -> DeploymentEvent:
    """One step of one deployment (its creation when `from_state` is None):
    the audit event and `deployment.created` / `deployment.transitioned`,
    whose data is the step and the deployment after it."""
    occurred_at = occurred_at or timezone.now()
    event = DeploymentEvent.objects.create(
        deployment=deployment,
        from_state=from_state,
        to_state=to_state,
        reason=reason or "",
        actor=actor.label,
        notes=notes or "",
        request_id=actor.request_id or "",
        occurred_at=occurred_at,
    )
    data = _move_data(
        from_state=from_state, to_state=to_state, actor=actor, reason=reason, notes=notes
    )
    data["deployment"] = event_view(deployment)
    record_event(
        type="deployment.created" if from_state is None else "deployment.transitioned",
        tenant_id=deployment.tenant_id,
        deployment_id=deployment.pk,
        data=data,
        request_id=actor.request_id or "",
        occurred_at=occurred_at,
    )
    return event


def record_override_change(
    *, deployment: Deployment, value: bool, actor: Actor, reason: str, at: datetime | None = None
) -> BillingOverrideChange:
    """The billing-action override turned on or off: the audit row and
    `deployment.override_changed`."""
    at = at or timezone.now()
    change = BillingOverrideChange.objects.create(
        deployment=deployment,
        value=value,
        reason=reason,
        actor=actor.label,
        request_id=actor.request_id or "",
        occurred_at=at,
    )
    record_event(
        type="deployment.override_changed",
        tenant_id=deployment.tenant_id,
        deployment_id=deployment.pk,
        data={
            "billing_action_suspended": value,
            "reason": reason,
            "actor": actor.label,
            "request_id": actor.request_id or "",
            "deployment": event_view(deployment),
        },
        request_id=actor.request_id or "",
        occurred_at=at,
    )
    return change


def _audit_with_sql() -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in _EVENT_COPY_COLUMNS)
    values = ", ".join(["%s"] * len(_EVENT_COPY_COLUMNS))
    table = quote(DeploymentEvent._meta.db_table)
    return f"WITH audit AS (INSERT INTO {table} ({columns}) VALUES ({values}))"


def _record_one_step(
    *,
    deployment: Deployment,
    from_state: str,
    to_state: str,
    actor: Actor,
    reason: str,
    notes: str,
    occurred_at: datetime,
) -> None:
    """`record_transition`'s two rows for a move, in one statement (PostgreSQL)."""
    data = _move_data(
        from_state=from_state, to_state=to_state, actor=actor, reason=reason, notes=notes
    )
    data["deployment"] = event_view(deployment)
    record_event_with(
        with_sql=_AUDIT_WITH_SQL,
        with_params=[
            deployment.pk,
            from_state,
            to_state,
            reason or "",
            actor.label,
            notes or "",
            actor.request_id or "",
            occurred_at,
        ],
        type="deployment.transitioned",
        tenant_id=deployment.tenant_id,
        deployment_id=deployment.pk,
        data=data,
        request_id=actor.request_id or "",
        occurred_at=occurred_at,
    )


#: Columns a bulk insert of transition events writes, in COPY order.
_EVENT_COPY_COLUMNS = (
    "deployment_id",
    "from_state",
    "to_state",
    "reason",
    "actor",
    "notes",
    "request_id",
    "occurred_at",
)
#: The audit row of one step, as the WITH clause of `_record_one_step`.
_AUDIT_WITH_SQL = _audit_with_sql()


def record_transitions(
    *,
    deployment_ids: list[UUID],
    from_state: str,
    to_state: str,
    actor: Actor,
    reason: str,
    occurred_at: datetime,
    notes: str = "",
    deployment: Deployment | None = None,
) -> int:
    """One step per deployment in `deployment_ids`, all the same move, inside
    the caller's transaction (the rows are locked and already moved): the
    writer for both move paths. Each gets its audit event and its
    `deployment.transitioned` feed event.

    One row (the single-row path passes its `deployment`): on PostgreSQL one
    statement writes both (the audit row in a data-modifying WITH, then the
    feed event: `feed.record.record_event_with`), elsewhere one INSERT each.
    Many rows on PostgreSQL are set-based: the audit events stream through
    COPY (several times cheaper than a multi-row INSERT at thousands of rows)
    and the feed events are built by ONE INSERT ... SELECT from the moved rows
    (`deployments.shapes.deployment_shape_sql`), in primary-key order, with no
    row passing through Python. Elsewhere: `bulk_create` and the Python shape.
    """
    if not deployment_ids:
        return 0
    if deployment is not None and len(deployment_ids) == 1:
        # PostgreSQL: the audit row and the feed event in one statement
        record_one = _record_one_step if connection.vendor == "postgresql" else record_transition
        record_one(
            deployment=deployment,
            from_state=from_state,
            to_state=to_state,
            actor=actor,
            reason=reason,
            notes=notes,
            occurred_at=occurred_at,
        )
        return 1
    request_id = actor.request_id or ""
    data = _move_data(
        from_state=from_state, to_state=to_state, actor=actor, reason=reason, notes=notes
    )
    if connection.vendor == "postgresql":
        # Every row of the batch shares all but its deployment id: format the
        # shared tail once and stream `id<TAB>tail` lines (per-row
        # `copy.write_row` would spend more CPU than the server's insert).
        tail = "\t".join(
            copy_text(value)
            for value in (
                from_state,
                to_state,
                reason,
                actor.label,
                notes,
                request_id,
                occurred_at.isoformat(),
            )
        )
        table = connection.ops.quote_name(DeploymentEvent._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(c) for c in _EVENT_COPY_COLUMNS)
        with (
            server_binding_cursor() as cursor,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            copy.write("".join(f"{deployment_id}\t{tail}\n" for deployment_id in deployment_ids))
        record_events_from_select(
            type="deployment.transitioned",
            select_sql=(
                "SELECT d.tenant_id, d.id AS deployment_id, %s::timestamptz AS occurred_at, "
                f"%s::jsonb || jsonb_build_object('deployment', {deployment_shape_sql('d')}) "
                "AS data, %s AS request_id "
                f"FROM {connection.ops.quote_name(Deployment._meta.db_table)} d "
                "WHERE d.id = ANY(%s) ORDER BY d.id"
            ),
            params=[occurred_at, json.dumps(data), request_id, list(deployment_ids)],
        )
        return len(deployment_ids)
    DeploymentEvent.objects.bulk_create(
        [
            DeploymentEvent(
                deployment_id=deployment_id,
                from_state=from_state,
                to_state=to_state,
                reason=reason or "",
                actor=actor.label,
                notes=notes or "",
                request_id=request_id,
                occurred_at=occurred_at,
            )
            for deployment_id in deployment_ids
        ],
        batch_size=500,
    )
    record_events(
        [
            NewEvent(
                type="deployment.transitioned",
                tenant_id=moved.tenant_id,
                deployment_id=moved.pk,
                data={**data, "deployment": event_view(moved)},
                request_id=request_id,
                occurred_at=occurred_at,
            )
            for moved in Deployment.objects.filter(pk__in=deployment_ids).order_by("pk")
        ]
    )
    return len(deployment_ids)


def transition_events_statements(
    *,
    moved: str,
    from_state: str,
    to_state: str,
    actor: Actor,
    reason: str,
    occurred_at: datetime,
    notes: str = "",
) -> tuple[list[str], dict]:
    """`record_transitions` for the rows of `moved` (the name of a relation of
    deployment rows as they are after the move, e.g. an `UPDATE ... RETURNING *`
    in a `WITH`), as statements for the caller's own statement (PostgreSQL):
    the INSERT of the audit events and the INSERT ... SELECT of their
    `deployment.transitioned` feed events, the same rows and data as
    `record_transitions` writes, in primary-key order. Returns the two
    statements (named placeholders) and their values."""
    data = _move_data(
        from_state=from_state, to_state=to_state, actor=actor, reason=reason, notes=notes
    )
    params = {
        "event_from": from_state,
        "event_to": to_state,
        "event_reason": reason or "",
        "event_actor": actor.label,
        "event_notes": notes or "",
        "event_request_id": actor.request_id or "",
        "event_at": occurred_at,
        "event_data": json.dumps(data),
    }
    quote = connection.ops.quote_name
    audit = (
        f"INSERT INTO {quote(DeploymentEvent._meta.db_table)} "
        f"({', '.join(quote(c) for c in _EVENT_COPY_COLUMNS)}) "
        "SELECT m.id, %(event_from)s::text, %(event_to)s::text, %(event_reason)s::text, "
        "%(event_actor)s::text, %(event_notes)s::text, %(event_request_id)s::text, "
        f"%(event_at)s::timestamptz FROM {moved} m ORDER BY m.id"
    )
    feed, feed_params = events_from_select_statement(
        type="deployment.transitioned",
        select_sql=(
            "SELECT m.tenant_id, m.id AS deployment_id, %(event_at)s::timestamptz AS occurred_at, "
            "%(event_data)s::jsonb || jsonb_build_object('deployment', "
            f"{deployment_shape_sql('m')}) AS data, %(event_request_id)s::text AS request_id "
            f"FROM {moved} m ORDER BY m.id"
        ),
    )
    return [audit, feed], {**params, **feed_params}
