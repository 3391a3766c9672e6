"""Input fields and the documented shapes of the webhook routes. Output is
rendered by `webhooks.shapes`; the `*Out` serializers describe it for the
OpenAPI document."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from arcadia_cloud.api import fields
from feed.cursor import CURSOR_PATTERN
from feed.types import EVENT_TYPES, TYPE_MAX_LENGTH, TYPE_PATTERN
from webhooks.models import DESCRIPTION_MAX_LENGTH, URL_MAX_LENGTH, DeliveryStatus
from webhooks.ssrf import URL_PATTERN

MAX_TYPES = 32


@extend_schema_field(
    {
        "type": "string",
        "maxLength": URL_MAX_LENGTH,
        "pattern": URL_PATTERN,
        "description": "https:// only, to a host that resolves to public addresses "
        "(http:// and private addresses only for hosts in ARCADIA_WEBHOOK_ALLOW_HOSTS).",
    }
)
class WebhookUrlField(fields.CharField):
    """A string; what URL it may be is the SSRF rule's to say (webhooks.ssrf),
    so an http:// URL of an allow-listed host passes here."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", URL_MAX_LENGTH)
        super().__init__(**kwargs)


def _types_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=fields.RegexField(TYPE_PATTERN, max_length=TYPE_MAX_LENGTH),
        max_length=MAX_TYPES,
        help_text="Event types or prefixes ending in `*` (`resource.*`); empty: every type.",
        **kwargs,
    )


class EndpointCreateIn(serializers.Serializer):
    url = WebhookUrlField()
    types = _types_field(required=False)
    description = fields.CharField(
        max_length=DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    tenant_id = fields.UUIDField(
        required=False,
        allow_null=True,
        help_text="Platform admins: the tenant whose events it receives; null or absent: "
        "every tenant's (a platform-wide endpoint). Others: their own tenant only.",
    )


class EndpointUpdateIn(serializers.Serializer):
    url = WebhookUrlField(required=False)
    types = _types_field(required=False)
    description = fields.CharField(
        max_length=DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True
    )
    enabled = fields.BooleanField(
        required=False,
        help_text="false: stop (pending deliveries end as failed); true: clear the "
        "disabled reason and receive events from now on.",
    )


@extend_schema_field({"type": "string", "maxLength": 32, "pattern": CURSOR_PATTERN})
class FeedCursorField(fields.CharField):
    """A string; whether it is a cursor is the feed's to say (a malformed one
    is a 400, as for GET /events)."""


class ReplayIn(serializers.Serializer):
    after = FeedCursorField(
        max_length=32,
        help_text="A feed cursor (`next_cursor` of GET /events): every matching event "
        "after it is delivered again.",
    )


# ---- output shapes -----------------------------------------------------------------


class EndpointOut(serializers.Serializer):
    id = serializers.UUIDField()
    tenant_id = serializers.UUIDField(allow_null=True, help_text="null: platform-wide")
    url = serializers.CharField()
    types = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField(allow_blank=True)
    enabled = serializers.BooleanField()
    disabled_reason = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class EndpointEnvelope(serializers.Serializer):
    endpoint = EndpointOut()


class EndpointCreatedOut(serializers.Serializer):
    endpoint = EndpointOut()
    secret = serializers.CharField(help_text="`whsec_...`: shown once, never again.")


class EndpointListOut(serializers.Serializer):
    endpoints = EndpointOut(many=True)


class EndpointDeletedOut(serializers.Serializer):
    id = serializers.UUIDField()
    deleted = serializers.BooleanField()


class SecretOut(serializers.Serializer):
    secret = serializers.CharField(
        help_text="The new `whsec_...` (shown once); the previous one keeps signing for 24 h."
    )


class DeliveryOut(serializers.Serializer):
    id = serializers.IntegerField()
    event_id = serializers.CharField(help_text="`evt_<n>`: the `webhook-id` header.")
    event_type = serializers.ChoiceField(choices=list(EVENT_TYPES))
    deployment_id = serializers.UUIDField(allow_null=True)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    attempts = serializers.IntegerField(min_value=0)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_response = serializers.CharField(allow_blank=True, help_text="The first 1 KiB.")
    last_error = serializers.CharField(allow_null=True)
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)


class DeliveryEnvelope(serializers.Serializer):
    delivery = DeliveryOut()


class DeliveryListOut(serializers.Serializer):
    deliveries = DeliveryOut(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class ReplayOut(serializers.Serializer):
    scheduled = serializers.IntegerField(min_value=0)


class WebhookErrorOut(serializers.Serializer):
    error = serializers.JSONField()
