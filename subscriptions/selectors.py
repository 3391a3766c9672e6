"""Subscription reads.

Tenant scoping happens on the deployment (`deployments.selectors`) before any
of these is called with its id.
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from subscriptions.models import PlanChange, Subscription, SubscriptionAddon
from subscriptions.rendering import render_subscription


def _with_terms() -> QuerySet[Subscription]:
    return Subscription.objects.select_related("plan_version__plan")


def get_subscription_for_deployment(deployment_id: UUID) -> Subscription | None:
    """The deployment's subscription with its plan version and plan, or None."""
    return _with_terms().filter(deployment_id=deployment_id).first()


def addons_of(subscription_id: int) -> QuerySet[SubscriptionAddon]:
    return SubscriptionAddon.objects.filter(subscription_id=subscription_id).order_by("id")


def subscription_payload(subscription_id: int) -> dict:
    """The API shape of one subscription, in two queries."""
    subscription = _with_terms().get(pk=subscription_id)
    return render_subscription(subscription, addons_of(subscription.pk))


def subscription_payload_for_deployment(deployment_id: UUID) -> dict | None:
    """The subscription of a deployment in its API shape, or None.

    Two queries at most: the subscription joined to its plan version and plan,
    then its add-on lines.
    """
    subscription = get_subscription_for_deployment(deployment_id)
    if subscription is None:
        return None
    return render_subscription(subscription, addons_of(subscription.pk))


def plan_changes_of(subscription_id: int) -> QuerySet[PlanChange]:
    return PlanChange.objects.filter(subscription_id=subscription_id).order_by("id")


def subscription_payload_of(subscription: Subscription | None) -> dict | None:
    """The API shape of a subscription already loaded with its plan version and
    plan (e.g. through `select_related("subscription__plan_version__plan")` on
    the deployment), in one query: its add-on lines."""
    if subscription is None:
        return None
    return render_subscription(subscription, addons_of(subscription.pk))


def monthly_total_by_currency(
    subscription: Subscription, addons: list[SubscriptionAddon]
) -> dict[str, int]:
    """What a subscription bills a month, per currency, in integer cents: its plan
    version's price plus the snapshotted prices of its add-ons. `subscription`
    comes with its plan_version loaded (as `get_subscription_for_deployment`
    returns it). No query."""
    version = subscription.plan_version
    totals: dict[str, int] = {version.currency: version.price_cents}
    for line in addons:
        totals[line.currency] = totals.get(line.currency, 0) + line.price_cents
    return dict(sorted(totals.items()))
