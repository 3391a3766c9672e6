"""Reads of webhook endpoints and deliveries, narrowed to the actor's scope.

A tenant identity sees its own tenant's endpoints; whoever sees every
tenant (a platform admin, the console) also sees platform-wide ones (no
tenant). Anything else is absent, so the API answers 404.
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from arcadia_cloud.actors import Actor
from arcadia_cloud.scope import scope_for
from webhooks.models import Delivery, WebhookEndpoint


def endpoints_visible_to(actor: Actor) -> QuerySet[WebhookEndpoint]:
    return scope_for(actor).filter(WebhookEndpoint.objects.all()).order_by("created_at", "id")


def get_endpoint_visible_to(actor: Actor, endpoint_id: UUID | str) -> WebhookEndpoint | None:
    return endpoints_visible_to(actor).filter(pk=endpoint_id).first()


def deliveries_of(endpoint: WebhookEndpoint) -> QuerySet[Delivery]:
    """The endpoint's delivery log (the API pages it newest event first)."""
    return Delivery.objects.filter(endpoint=endpoint)
