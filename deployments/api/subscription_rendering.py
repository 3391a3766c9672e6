"""The subscription's shape described for the OpenAPI document; the shape
itself is `subscriptions.shapes` (a test keeps the two in step)."""

from __future__ import annotations

from rest_framework import serializers

from subscriptions.models import Status

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


class PendingChangeOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["cancel", "change_plan"])
    status = serializers.ChoiceField(choices=["pending", "applied", "withdrawn", "failed"])
    effective_at = serializers.DateTimeField(help_text="The end of the period it waits for.")
    requested_by = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    plan_code = serializers.CharField(required=False, help_text="A plan change's target.")
    plan_version = serializers.IntegerField(required=False)
    plan_version_id = serializers.IntegerField(required=False)
    withdrawn_at = serializers.DateTimeField(required=False)
    withdrawn_reason = serializers.CharField(required=False)
    failed_at = serializers.DateTimeField(required=False)
    failure_reason = serializers.CharField(required=False)


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
    pending_changes = PendingChangeOut(
        many=True, help_text="Changes scheduled for the end of the current period."
    )
