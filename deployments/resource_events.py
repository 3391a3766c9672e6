"""The resource shape, and the only writers of resource events into the feed.

`resource_shape` is THE shape of a resource: the API answers it and every
`resource.*` event carries it as its `data` (the resource as it is after the
fact), so a controller reconciling from the feed and one reading the API see
the same object. One recording helper per event type, each inside the
caller's transaction (`feed.record`), so an event commits with its fact or
not at all; `record_resource_changes` writes many at once for the lifecycle's
set-based path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from arcadia_cloud.actors import Actor
from arcadia_cloud.formats import iso
from deployments.models import CloudResource
from feed.record import NewEvent, record_event, record_events

CREATED = "resource.created"
UPDATED = "resource.updated"
STATUS_CHANGED = "resource.status_changed"
DELETED = "resource.deleted"

#: The model's columns the shape is made of, in shape order (the set-based
#: path selects exactly these).
SHAPE_COLUMNS = (
    "id",
    "deployment_id",
    "tenant_id",
    "kind",
    "name",
    "qty",
    "desired_state",
    "observed_state",
    "generation",
    "observed_generation",
    "held",
    "status_message",
    "observed_at",
    "created_at",
    "updated_at",
)


def resource_shape(values: Mapping[str, Any]) -> dict:
    """The resource shape from its column values (`SHAPE_COLUMNS`): ids and
    times as strings, so the same dict is an API body and an event's data."""
    return {
        "id": str(values["id"]),
        "deployment_id": str(values["deployment_id"]),
        "tenant_id": str(values["tenant_id"]),
        "kind": values["kind"],
        "name": values["name"],
        "qty": values["qty"],
        "desired_state": values["desired_state"],
        "observed_state": values["observed_state"],
        "generation": values["generation"],
        "observed_generation": values["observed_generation"],
        "pending": values["observed_generation"] < values["generation"],
        "held": bool(values["held"]),
        "status_message": values["status_message"],
        "observed_at": iso(values["observed_at"]),
        "created_at": iso(values["created_at"]),
        "updated_at": iso(values["updated_at"]),
    }


def shape_of(resource: CloudResource) -> dict:
    return resource_shape({column: getattr(resource, column) for column in SHAPE_COLUMNS})


def _record(type_: str, resource: CloudResource, actor: Actor) -> None:
    record_event(
        type=type_,
        tenant_id=resource.tenant_id,
        deployment_id=resource.deployment_id,
        data=shape_of(resource),
        request_id=actor.request_id,
        occurred_at=resource.updated_at,
    )


def record_resource_created(resource: CloudResource, actor: Actor) -> None:
    _record(CREATED, resource, actor)


def record_resource_updated(resource: CloudResource, actor: Actor) -> None:
    _record(UPDATED, resource, actor)


def record_resource_deleted(resource: CloudResource, actor: Actor) -> None:
    _record(DELETED, resource, actor)


def record_resource_status_changed(resource: CloudResource, actor: Actor) -> None:
    _record(STATUS_CHANGED, resource, actor)


def record_resource_changes(
    rows: Sequence[Mapping[str, Any]], *, actor: Actor, occurred_at: datetime
) -> int:
    """One `resource.updated` event per row (column values, `SHAPE_COLUMNS`),
    in one statement (COPY on PostgreSQL): the lifecycle's set-based path."""
    return record_events(
        [
            NewEvent(
                type=UPDATED,
                tenant_id=row["tenant_id"],
                deployment_id=row["deployment_id"],
                data=resource_shape(row),
                request_id=actor.request_id,
                occurred_at=occurred_at,
            )
            for row in rows
        ]
    )
