"""The subscription's API shape, rendered as plain dicts (a hot path: the
deployment show endpoint renders it on every call)."""

from __future__ import annotations

from collections.abc import Iterable

from arcadia_cloud.api.rendering import iso
from subscriptions.models import Subscription, SubscriptionAddon


def render_addon(line: SubscriptionAddon) -> dict:
    return {
        "addon_id": line.addon_id,
        "code": line.code,
        "resource_kind": line.resource_kind,
        "qty": line.qty,
        "price_cents": line.price_cents,
        "currency": line.currency,
    }


def render_subscription(subscription: Subscription, addons: Iterable[SubscriptionAddon]) -> dict:
    """`subscription` must come with plan_version and plan_version.plan loaded."""
    plan_version = subscription.plan_version
    return {
        "id": subscription.id,
        "status": subscription.status,
        "plan_code": plan_version.plan.code,
        "plan_version_id": plan_version.id,
        "plan_version": plan_version.version,
        "price_cents": plan_version.price_cents,
        "currency": plan_version.currency,
        "current_period_start": subscription.current_period_start.isoformat(),
        "current_period_end": subscription.current_period_end.isoformat(),
        "trial_ends_at": iso(subscription.trial_ends_at),
        "addons": [render_addon(line) for line in addons],
    }
