"""Subscription reads.

Tenant scoping happens on the deployment (`deployments.selectors`) before any
of these is called with its id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

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


def trials_ending_within(days: int, *, now: datetime | None = None) -> QuerySet[Subscription]:
    """Subscriptions whose deployment is in `trial` and whose trial ends in the
    next `days` days (from now, inclusive)."""
    now = now or timezone.now()
    return Subscription.objects.filter(
        deployment__state="trial",
        trial_ends_at__gte=now,
        trial_ends_at__lte=now + timedelta(days=days),
    ).order_by()


def scheduled_cancellations() -> QuerySet[PendingChange]:
    """Cancellations scheduled for the end of a period and not applied yet."""
    return PendingChange.objects.filter(
        PendingChange.PENDING, kind=PendingChange.Kind.CANCEL
    ).order_by()


def subscriber_counts(plan_version_ids: list[int]) -> dict[int, int]:
    """How many subscriptions each plan version has (versions with none are
    left out). One query."""
    return dict(
        Subscription.objects.filter(plan_version__in=plan_version_ids)
        .order_by()
        .values_list("plan_version")
        .annotate(n=Count("id"))
    )
