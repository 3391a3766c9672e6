"""Deployment write services other than transitions (see `deployments.transitions`)."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from arcadia_cloud.actors import Actor
from arcadia_cloud.errors import Forbidden
from arcadia_cloud.models import Tenant
from deployments.errors import DeploymentNotFound
from deployments.events import check_reason, record_override_change, record_transition
from deployments.models import BillingOverrideChange, Deployment, LlmMode, State

CREATABLE_STATES = {State.ACTIVE.value, State.TRIAL.value}


def create_deployment(
    *,
    tenant: Tenant,
    slug: str,
    display_name: str,
    region: str,
    actor: Actor,
    llm_mode: str = LlmMode.MANAGED,
    template_code: str | None = None,
    template_version: str | None = None,
    initial_state: str = State.ACTIVE,
) -> Deployment:
    """Create a deployment and its first event (from_state null) in one transaction.

    Validates every field (ValidationError keyed by field). Only an operator may
    create one in `trial`. A slug taken in the tenant is a validation error, also
    when two creates race: the unique constraint decides and the loser is
    reported like any other duplicate.
    """
    if initial_state not in CREATABLE_STATES:
        raise ValidationError(
            {"state": [f"A deployment starts in one of {sorted(CREATABLE_STATES)}."]}
        )
    if initial_state == State.TRIAL and actor.kind != "operator":
        raise Forbidden()
    if actor.kind == "tenant" and actor.tenant_id != tenant.id:
        raise Forbidden()
    errors: dict[str, list[str]] = {}
    if isinstance(display_name, str) and display_name and not display_name.strip():
        # The API trims whitespace before this point; callers that do not
        # (admin, commands) must not store a name that renders as nothing.
        errors["display_name"] = ["This field may not be blank."]
    if region not in settings.ARCADIA_REGIONS:
        errors["region"] = [f"Unknown region {region!r}; one of {settings.ARCADIA_REGIONS}."]
    now = timezone.now()
    deployment = Deployment(
        tenant=tenant,
        slug=slug,
        display_name=display_name,
        region=region,
        state=initial_state,
        state_since=now,
        llm_mode=llm_mode,
        template_code=template_code or None,
        template_version=template_version or None,
        created_at=now,
    )
    try:
        # state is FSM-protected (and checked above); clean everything else.
        deployment.full_clean(exclude=["state"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if "slug" not in errors and Deployment.objects.filter(tenant=tenant, slug=slug).exists():
        errors["slug"] = ["A deployment with this slug already exists in the tenant."]
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            deployment.save(force_insert=True)
            record_transition(
                deployment=deployment,
                from_state=None,
                to_state=deployment.state,
                actor=actor,
                reason="created",
                occurred_at=now,
            )
    except IntegrityError as exc:
        raise ValidationError(
            {"slug": ["A deployment with this slug already exists in the tenant."]}
        ) from exc
    return deployment


def set_billing_override(
    *, deployment_id: UUID, suspended: bool, actor: Actor, reason: str
) -> Deployment:
    """Turn the billing-action override on or off, with an audit row (who, when, why).

    Locks the row so the flag and its audit trail cannot disagree when two
    operators toggle at once. Operators only. Setting the current value again
    is a no-op without an audit row.
    """
    if actor.kind != "operator":
        raise Forbidden()
    if not reason or not reason.strip():
        raise ValidationError({"reason": ["A reason is required to change the override."]})
    check_reason(reason, model=BillingOverrideChange)
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().filter(pk=deployment_id).first()
        if deployment is None:
            raise DeploymentNotFound()
        if deployment.billing_action_suspended == suspended:
            return deployment
        deployment.billing_action_suspended = suspended
        deployment.save(update_fields=["billing_action_suspended", "updated_at"])
        record_override_change(deployment=deployment, value=suspended, actor=actor, reason=reason)
    return deployment
