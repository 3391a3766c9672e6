"""Subscription API input validation and, for the OpenAPI document, the output
shape rendered by `subscriptions.rendering` (a test keeps the two in step)."""

from __future__ import annotations

from rest_framework import serializers

from subscriptions.models import Status

CODE_MAX = 63


class CodeField(serializers.CharField):
    """A catalog code: a JSON string only (DRF's CharField would accept 12 as "12")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class SubscribeIn(serializers.Serializer):
    plan_code = CodeField(max_length=CODE_MAX)
    addons = serializers.ListField(
        child=CodeField(max_length=CODE_MAX),
        required=False,
        default=list,
        max_length=50,
        help_text="Add-on codes to attach at the price of today; repeat a code to stack it.",
    )
    version = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="A specific published version; default the plan's active version.",
    )


class AttachAddonIn(serializers.Serializer):
    addon_code = CodeField(max_length=CODE_MAX)


class ChangePlanIn(serializers.Serializer):
    plan_code = CodeField(max_length=CODE_MAX)
    version = serializers.IntegerField(min_value=1, required=False, allow_null=True)


class SubscriptionAddonOut(serializers.Serializer):
    addon_id = serializers.IntegerField()
    code = serializers.CharField()
    resource_kind = serializers.CharField()
    qty = serializers.IntegerField(min_value=1)
    price_cents = serializers.IntegerField(min_value=0)
    currency = serializers.CharField(min_length=3, max_length=3)


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


class SubscriptionEnvelope(serializers.Serializer):
    subscription = SubscriptionOut()


class SubscriptionErrorOut(serializers.Serializer):
    error = serializers.JSONField(
        help_text="An error code, or for invalid input an object of field -> messages."
    )
    codes = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="With `unknown_addons`."
    )
