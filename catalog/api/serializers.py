"""Catalog API shapes. Rendered by plain functions; the `*Out` serializers
describe the same shapes for the OpenAPI document (a test keeps them in step)."""

from __future__ import annotations

from rest_framework import serializers

from arcadia_cloud.formats import iso
from catalog.models import Addon, Interval, Plan, PlanVersion


def render_plan(plan: Plan, version: PlanVersion) -> dict:
    return {
        "code": plan.code,
        "name": plan.name,
        "description": plan.description,
        "active_version": {
            "id": version.id,
            "version": version.version,
            "price_cents": version.price_cents,
            "currency": version.currency,
            "interval": version.interval,
            "included_quotas": dict(version.included_quotas or {}),
            "trial_days": version.trial_days,
            "trial_end_behavior": version.trial_end_behavior,
            "published_at": iso(version.published_at),
        },
    }


def render_addon(addon: Addon) -> dict:
    return {
        "id": addon.id,
        "code": addon.code,
        "name": addon.name,
        "resource_kind": addon.resource_kind,
        "qty": addon.qty,
        "price_cents": addon.price_cents,
        "currency": addon.currency,
    }


class PlanVersionOut(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField(min_value=1)
    price_cents = serializers.IntegerField(min_value=0)
    currency = serializers.CharField(min_length=3, max_length=3)
    interval = serializers.ChoiceField(choices=Interval.choices)
    included_quotas = serializers.DictField(child=serializers.IntegerField(min_value=0))
    trial_days = serializers.IntegerField(
        min_value=0, max_value=365, help_text="Days of free trial offered (0: none)."
    )
    trial_end_behavior = serializers.ChoiceField(
        choices=["activate", "past_due", "cancel"],
        help_text="What happens to the deployment when the trial ends.",
    )
    published_at = serializers.DateTimeField()


class PlanOut(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    active_version = PlanVersionOut()


class PlanListOut(serializers.Serializer):
    plans = PlanOut(many=True)


class AddonOut(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    resource_kind = serializers.CharField()
    qty = serializers.IntegerField(min_value=1)
    price_cents = serializers.IntegerField(min_value=0)
    currency = serializers.CharField(min_length=3, max_length=3)


class AddonListOut(serializers.Serializer):
    addons = AddonOut(many=True)


class CatalogErrorOut(serializers.Serializer):
    error = serializers.CharField()
