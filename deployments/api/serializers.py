"""Input validation (DRF serializers) and output rendering for deployments.

Output is rendered by plain functions: the hot read paths (show, list) spend
most of their time in serialization, and a dict built directly is several times
cheaper than a ModelSerializer per object (see benchmarks/). The `*Out`
serializers describe the same shapes for the OpenAPI document; a test keeps
the two in step.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from arcadia_cloud.api import fields
from arcadia_cloud.formats import iso
from deployments.api.subscription_rendering import SubscriptionOut
from deployments.api.subscription_serializers import CodeField
from deployments.models import SLUG_PATTERN, DeploymentEvent, LlmMode, State
from deployments.shapes import deployment_shape

#: The deployment as the caller sees it: its one shape (`deployments.shapes`).
render_deployment = deployment_shape


def render_event(event: DeploymentEvent) -> dict:
    return {
        "id": event.id,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "reason": event.reason,
        "actor": event.actor,
        "notes": event.notes,
        "request_id": event.request_id,
        "occurred_at": iso(event.occurred_at),
    }


# ---- input ----------------------------------------------------------------


class DeploymentCreateIn(serializers.Serializer):
    slug = fields.RegexField(SLUG_PATTERN, max_length=63)
    display_name = fields.CharField(min_length=1, max_length=200)
    region = fields.RegionField()
    llm_mode = fields.ChoiceField(choices=LlmMode.choices, required=False)
    template_code = fields.CharField(
        max_length=100, required=False, allow_null=True, allow_blank=True
    )
    template_version = fields.CharField(
        max_length=50, required=False, allow_null=True, allow_blank=True
    )
    tenant_id = fields.UUIDField(required=False, allow_null=True)
    plan_code = CodeField(
        required=False,
        help_text="Subscribe the new deployment to this plan in the same transaction.",
    )
    addons = serializers.ListField(
        child=CodeField(),
        required=False,
        max_length=50,
        help_text="Add-on codes to attach at today's price; needs plan_code (else 422 "
        "plan_code_required).",
    )
    trial = fields.BooleanField(
        required=False,
        default=False,
        help_text="Start in trial: needs plan_code (else 422 plan_code_required); the plan "
        "must offer one (422 trial_not_offered); once per tenant and plan (422 "
        "trial_already_used).",
    )


@extend_schema_field(serializers.ChoiceField(choices=State.choices))
class StateName(fields.CharField):
    """A state, published as the enum of states. Any other string is still read:
    the transitions map answers it (422 invalid_transition), not a field error."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 32)
        super().__init__(**kwargs)


class TransitionIn(serializers.Serializer):
    to_state = StateName()
    reason = fields.CharField(max_length=500, required=False, allow_blank=True, default="")
    notes = fields.CharField(max_length=5000, required=False, allow_blank=True, default="")
    expected_state = StateName(required=False, allow_null=True)


# ---- output shapes, for the OpenAPI document -------------------------------


class DeploymentOut(serializers.Serializer):
    id = serializers.UUIDField()
    tenant_id = serializers.UUIDField()
    slug = serializers.CharField()
    display_name = serializers.CharField()
    region = serializers.CharField()
    state = serializers.ChoiceField(choices=State.choices)
    state_since = serializers.DateTimeField()
    llm_mode = serializers.ChoiceField(choices=LlmMode.choices)
    template_code = serializers.CharField(allow_null=True)
    template_version = serializers.CharField(allow_null=True)
    billing_action_suspended = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    allowed_transitions = serializers.ListField(
        child=serializers.ChoiceField(choices=State.choices)
    )


class EventOut(serializers.Serializer):
    id = serializers.IntegerField()
    from_state = serializers.CharField(allow_null=True)
    to_state = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    actor = serializers.CharField()
    notes = serializers.CharField(allow_blank=True)
    request_id = serializers.CharField(allow_blank=True)
    occurred_at = serializers.DateTimeField()


class DeploymentEnvelope(serializers.Serializer):
    deployment = DeploymentOut()


class DeploymentCreatedOut(serializers.Serializer):
    deployment = DeploymentOut()
    subscription = SubscriptionOut(required=False, help_text="When created with a plan_code.")


class DeploymentListOut(serializers.Serializer):
    deployments = DeploymentOut(many=True)
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class EventListOut(serializers.Serializer):
    events = EventOut(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class DeploymentShowOut(serializers.Serializer):
    deployment = DeploymentOut()
    subscription = SubscriptionOut(allow_null=True)
    events = EventOut(many=True)


class ErrorOut(serializers.Serializer):
    error = serializers.JSONField()
