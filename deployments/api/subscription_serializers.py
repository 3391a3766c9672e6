"""Input validation of the subscription routes under a deployment, and their
envelopes for the OpenAPI document (the shape itself: `subscription_rendering`)."""

from __future__ import annotations

from rest_framework import serializers

from arcadia_cloud.api import fields
from deployments.api.subscription_rendering import SubscriptionOut

CODE_MAX = 63
VERSION_MAX = 2**31 - 1  # the column's range: a larger number is a field error, not a 500
# Wider than the catalog's own code pattern on purpose: a well-formed code that
# is not in the catalog is answered as unknown (404 plan / 422 unknown_addons),
# only strings that cannot be a code at all are field errors.
CODE_SHAPE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$"


class CodeField(fields.RegexField):
    """A catalog code: a JSON string of the code's shape."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", CODE_MAX)
        super().__init__(CODE_SHAPE, **kwargs)


class SubscribeIn(serializers.Serializer):
    plan_code = CodeField()
    addons = serializers.ListField(
        child=CodeField(),
        required=False,
        default=list,
        max_length=50,
        help_text="Add-on codes to attach at the price of today; repeat a code to stack it.",
    )
    version = fields.IntegerField(
        min_value=1,
        max_value=VERSION_MAX,
        required=False,
        allow_null=True,
        help_text="A specific published version; default the plan's active version.",
    )


class AttachAddonIn(serializers.Serializer):
    addon_code = CodeField()


class ChangePlanIn(serializers.Serializer):
    plan_code = CodeField()
    version = fields.IntegerField(
        min_value=1, max_value=VERSION_MAX, required=False, allow_null=True
    )
    effective = fields.ChoiceField(
        choices=["now", "period_end"],
        required=False,
        default="now",
        help_text="`period_end` schedules the change for the end of the current period.",
    )
    reason = fields.CharField(max_length=500, required=False, allow_blank=True, default="")


class CancelIn(serializers.Serializer):
    at_period_end = fields.BooleanField(
        help_text="false: cancel now (the deployment moves to `cancelled`); true: at the end "
        "of the current period."
    )
    reason = fields.CharField(max_length=500, required=False, allow_blank=True, default="")


class WithdrawIn(serializers.Serializer):
    reason = fields.CharField(max_length=500, required=False, allow_blank=True, default="")


class SubscriptionEnvelope(serializers.Serializer):
    subscription = SubscriptionOut()


class SubscriptionErrorOut(serializers.Serializer):
    error = serializers.JSONField(
        help_text="An error code, or for invalid input an object of field -> messages."
    )
    codes = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="With `unknown_addons`."
    )
