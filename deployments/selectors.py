"""Reads of deployments, always through the tenant scope."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from arcadia_cloud.api.scoping import scope_to
from deployments.models import Deployment, DeploymentEvent

SHOW_EVENTS = 100


def deployments_visible_to(identity) -> QuerySet[Deployment]:
    return scope_to(Deployment.objects.all(), identity)


def get_deployment_visible_to(identity, deployment_id: UUID | str) -> Deployment | None:
    """The deployment if `identity` may see it; None for foreign and missing alike."""
    return deployments_visible_to(identity).filter(pk=deployment_id).first()


def newest_events(deployment_id: UUID, *, limit: int = SHOW_EVENTS) -> list[DeploymentEvent]:
    """The newest `limit` events, returned oldest first."""
    rows = list(DeploymentEvent.objects.filter(deployment_id=deployment_id).order_by("-id")[:limit])
    rows.reverse()
    return rows


def events_of(deployment_id: UUID) -> QuerySet[DeploymentEvent]:
    return DeploymentEvent.objects.filter(deployment_id=deployment_id).order_by("id")
