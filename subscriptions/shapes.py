"""The subscription's shape (SPEC §3), one definition for the API (a hot
path: the deployment show endpoint renders it on every call) and the feed's
subscription events."""

from __future__ import annotations

from arcadia_cloud.formats import iso
from subscriptions.models import Subscription, SubscriptionAddon


def render_addon(line: SubscriptionAddon) -> dict:
    """One add-on line as sold (`detached_at` only once detached)."""
    shape = {
        "addon_line_id": line.id,
        "addon_id": line.addon_id,
        "code": line.code,
        "resource_kind": line.resource_kind,
        "qty": line.qty,
        "price_cents": line.price_cents,
        "currency": line.currency,
        "attached_at": iso(line.attached_at),
    }
    if line.detached_at is not None:
        shape["detached_at"] = iso(line.detached_at)
    return shape


def render_subscription(subscription: Subscription | None) -> dict | None:
    """`subscription` as `subscriptions.selectors.get_subscription_for_deployment`
    returns it (plan version and plan joined, add-on lines prefetched)."""
    if subscription is None:
        return None
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
        "addons": [render_addon(line) for line in subscription.addons.all()],
    }
