"""The only writers of audit rows. Events are append-only: this module inserts,
nothing anywhere updates or deletes."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import connection, models
from django.utils import timezone

from arcadia_cloud.actors import Actor
from arcadia_cloud.db import copy_text, server_binding_cursor
from deployments.models import BillingOverrideChange, Deployment, DeploymentEvent


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
    return DeploymentEvent.objects.create(
        deployment=deployment,
        from_state=from_state,
        to_state=to_state,
        reason=reason or "",
        actor=actor.label,
        notes=notes or "",
        request_id=actor.request_id or "",
        occurred_at=occurred_at or timezone.now(),
    )


def record_override_change(
    *, deployment: Deployment, value: bool, actor: Actor, reason: str, at: datetime | None = None
) -> BillingOverrideChange:
    return BillingOverrideChange.objects.create(
        deployment=deployment,
        value=value,
        reason=reason,
        actor=actor.label,
        request_id=actor.request_id or "",
        occurred_at=at or timezone.now(),
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


def record_transitions(
    *,
    deployment_ids: list[UUID],
    from_state: str,
    to_state: str,
    actor: Actor,
    reason: str,
    occurred_at: datetime,
    notes: str = "",
) -> int:
    """One event per deployment in `deployment_ids`, all for the same move,
    inside the caller's transaction: the writer for both move paths.

    One row is one INSERT; on PostgreSQL many rows stream through COPY on the
    same connection (several times cheaper than a multi-row INSERT at
    thousands of rows); elsewhere they go through `bulk_create`.
    """
    if not deployment_ids:
        return 0
    request_id = actor.request_id or ""
    if connection.vendor == "postgresql" and len(deployment_ids) > 1:
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
    return len(deployment_ids)
