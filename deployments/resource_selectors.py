"""Reads of cloud resources, through the actor's tenant scope
(`arcadia_cloud.scope.scope_for`: a controller and an operator see every
tenant, anyone else its own). Lists are in id order, which is creation order
(`deployments.models.time_ordered_uuid`), and are read by keyset on the id."""

from __future__ import annotations

from uuid import UUID

from django.db.models import F, QuerySet

from arcadia_cloud.actors import Actor
from arcadia_cloud.scope import scope_for
from deployments.models import CloudResource

#: Resources whose controller has not yet reported their current generation.
PENDING = {"observed_generation__lt": F("generation")}


def resources_visible_to(actor: Actor) -> QuerySet[CloudResource]:
    return scope_for(actor).filter(CloudResource.objects.order_by("id"))


def get_resource_visible_to(actor: Actor, resource_id: UUID | str) -> CloudResource | None:
    """The resource if `actor` may see it; None for foreign and missing alike."""
    return resources_visible_to(actor).filter(pk=resource_id).first()


def find_resources(
    actor: Actor,
    *,
    deployment_id: UUID | None = None,
    kind: str | None = None,
    pending: bool | None = None,
) -> QuerySet[CloudResource]:
    """The resources `actor` sees, narrowed: of one deployment, of one kind,
    pending (`observed_generation < generation`) or not."""
    rows = resources_visible_to(actor)
    if deployment_id is not None:
        rows = rows.filter(deployment_id=deployment_id)
    if kind is not None:
        rows = rows.filter(kind=kind)
    if pending is True:
        rows = rows.filter(**PENDING)
    elif pending is False:
        rows = rows.exclude(**PENDING)
    return rows


def page_after(rows: QuerySet[CloudResource], *, after: UUID | None, limit: int):
    """(up to `limit` rows after the id `after`, whether there are more): one query."""
    if after is not None:
        rows = rows.filter(id__gt=after)
    page = list(rows.order_by("id")[: limit + 1])
    return page[:limit], len(page) > limit


def resources_of_deployment(deployment_id: UUID, *, limit: int = 50) -> list[CloudResource]:
    """A deployment's newest `limit` resources, newest first (the console's
    deployment page). One query."""
    return list(CloudResource.objects.filter(deployment_id=deployment_id).order_by("-id")[:limit])
