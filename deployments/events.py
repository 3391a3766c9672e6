"""The only writers of audit rows. Events are append-only: this module inserts,
nothing anywhere updates or deletes."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from arcadia_cloud.actors import Actor
from deployments.models import BillingOverrideChange, Deployment, DeploymentEvent


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
