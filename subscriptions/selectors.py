"""Subscription reads.

Tenant scoping happens on the deployment (`deployments.selectors`) before any
of these is called with its id.
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import Prefetch, QuerySet

from subscriptions.models import PendingChange, Subscription, SubscriptionAddon


def addon_lines() -> QuerySet[SubscriptionAddon]:
    """Add-on lines attached now (not detached), in the order they were attached:
    what a subscription pays for and what counts towards its limits."""
    return SubscriptionAddon.objects.filter(detached_at__isnull=True).order_by("id")


def pending_changes() -> QuerySet[PendingChange]:
    """Changes scheduled and not yet applied, withdrawn or failed, soonest first."""
    return (
        PendingChange.objects.filter(PendingChange.PENDING)
        .select_related("target_version__plan")
        .order_by("effective_at", "id")
    )


#: What a subscription's shape reads besides its own row.
SHAPE_PREFETCH = (
    Prefetch("addons", queryset=addon_lines()),
    Prefetch("pending_changes", queryset=pending_changes()),
)


def get_subscription_for_deployment(deployment_id: UUID) -> Subscription | None:
    """The deployment's subscription with its plan version and plan joined and
    its add-on lines and pending changes prefetched (three queries), or None."""
    return (
        Subscription.objects.select_related("plan_version__plan")
        .prefetch_related(*SHAPE_PREFETCH)
        .filter(deployment_id=deployment_id)
        .first()
    )


def addons_of(subscription_id: int) -> QuerySet[SubscriptionAddon]:
    """Every add-on line of a subscription, detached ones included (its history)."""
    return SubscriptionAddon.objects.filter(subscription_id=subscription_id).order_by("id")
