"""The statement shapes for the OpenAPI document (rendered by `billing.shapes`)."""

from __future__ import annotations

from rest_framework import serializers


class StatementLineOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["plan", "addon"])
    code = serializers.CharField()
    description = serializers.CharField()
    plan_version = serializers.IntegerField(required=False, help_text="Plan lines only.")
    addon_line_id = serializers.IntegerField(required=False, help_text="Add-on lines only.")
    unit_price_cents = serializers.IntegerField(
        min_value=0, help_text="The monthly price, in the currency's minor unit."
    )
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    amount_cents = serializers.IntegerField(
        min_value=0,
        help_text="unit_price * billed seconds / seconds in the period, rounded half to even.",
    )


class StatementOut(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="null in a preview")
    subscription_id = serializers.IntegerField()
    period_start = serializers.DateField()
    period_end = serializers.DateField(help_text="Excluded: the period is [start, end).")
    currency = serializers.CharField(min_length=3, max_length=3)
    lines = StatementLineOut(many=True)
    total_cents = serializers.IntegerField(min_value=0)
    closed_at = serializers.DateTimeField(allow_null=True, help_text="null in a preview")


class StatementListOut(serializers.Serializer):
    statements = StatementOut(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class StatementEnvelope(serializers.Serializer):
    statement = StatementOut()


class BillingErrorOut(serializers.Serializer):
    error = serializers.JSONField()
