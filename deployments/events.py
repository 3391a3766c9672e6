"""The only writers of audit rows. Events are append-only: this module inserts,
nothing anywhere updates or deletes."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from arcadia_cloud.actors import Actor
from deployments.models import BillingOverrideChange, Deployment, DeploymentEvent


def check_reason(reason: str | None, *, model: type[models.Model] = DeploymentEvent) -> None:
    """Refuse a reason longer than the audit column before anything is locked or
    written. The API's serializer already limits it; the admin and the batch
    command reach the services without one, and PostgreSQL would raise."""
    limit = model._meta.get_field("reason").max_length
    if reason and len(reason) > limit:
        raise ValidationError(
            {"reason": [f"Ensure this field has no more than {limit} characters."]}
        )


def record_transition(
    *,
    deployment: Deployment,
    from_state: str | None,
    to_state: str,
    actor: Actor,
    reason: str = "",
    notes: str = "",
    occurred_at: datetime | None = None,
) -> DeploymentEvent:
    return DeploymentEvent.objects.create(
        deployment=deployment,
        from_state=from_state,
        to_state=to_state,
        reason=reason or "",
        actor=actor.label,
        notes=notes or "",
        request_id=actor.request_id or "",
        occurred_at=occurred_at or timezone.now(),
    )


def record_override_change(
    *, deployment: Deployment, value: bool, actor: Actor, reason: str
) -> BillingOverrideChange:
    return BillingOverrideChange.objects.create(
        deployment=deployment,
        value=value,
        reason=reason,
        actor=actor.label,
        request_id=actor.request_id or "",
    )
