"""The subscription's API shape, rendered as plain dicts (a hot path: the
deployment show endpoint renders it on every call), and the same shape
described for the OpenAPI document (a test keeps the two in step)."""

from __future__ import annotations

from rest_framework import serializers

from arcadia_cloud.formats import iso
from subscriptions.models import Status, Subscription, SubscriptionAddon


def render_addon(line: SubscriptionAddon) -> dict:
    return {
        "addon_line_id": line.id,
        "addon_id": line.addon_id,
        "code": line.code,
        "resource_kind": line.resource_kind,
        "qty": line.qty,
        "price_cents": line.price_cents,
        "currency": line.currency,
        "attached_at": iso(line.attached_at),
    }


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


# The same shapes described for the OpenAPI document (a test keeps them in step).


class SubscriptionAddonOut(serializers.Serializer):
    addon_line_id = serializers.IntegerField(
        help_text="This line (detach it with DELETE .../subscription/addons/{addon_line_id})."
    )
    addon_id = serializers.IntegerField()
    code = serializers.CharField()
    resource_kind = serializers.CharField()
    qty = serializers.IntegerField(min_value=1)
    price_cents = serializers.IntegerField(min_value=0)
    currency = serializers.CharField(min_length=3, max_length=3)
    attached_at = serializers.DateTimeField()


class SubscriptionOut(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Status.choices)
    plan_code = serializers.CharField()
    plan_version_id = serializers.IntegerField()
    plan_version = serializers.IntegerField(min_value=1)
    price_cents = serializers.IntegerField(min_value=0)
    currency = serializers.CharField(min_length=3, max_length=3)
    current_period_start = serializers.DateField()
    current_period_end = serializers.DateField()
    trial_ends_at = serializers.DateTimeField(allow_null=True)
    addons = SubscriptionAddonOut(many=True)
