"""Deployment write services other than moves (see `deployments.transitions`)
and resources (see `deployments.resources`): creating a deployment, the
billing-action override, subscribing a deployment to a plan (the deployment's
lock and state decide whether it may take a subscription and with which
status), and the subscription changes that shrink its limits (a plan change,
an add-on detach), decided under the deployment's lock against its resources."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from arcadia_cloud.actors import OPERATOR, Actor
from arcadia_cloud.errors import Forbidden
from arcadia_cloud.models import Tenant
from arcadia_cloud.scope import scope_for
from catalog.errors import PlanOrVersionNotFound
from catalog.selectors import resolve_plan_version
from deployments import selectors
from deployments.entitlements import entitlements_of
from deployments.errors import DeploymentNotSubscribable
from deployments.events import check_reason, record_override_change, record_transition
from deployments.models import BillingOverrideChange, Deployment, LlmMode, State
from deployments.transitions import subscription_status_for
from subscriptions.errors import (
    PlanCodeRequired,
    SubscriptionNotFound,
    TrialAlreadyUsed,
    TrialNotOffered,
)
from subscriptions.models import Subscription, SubscriptionAddon
from subscriptions.services import (
    change_plan_version,
    check_addons_on_sale,
    detach_addon,
    grant_trial,
    open_subscription,
    trial_used,
)

CREATABLE_STATES = {State.ACTIVE.value, State.TRIAL.value}

#: Deployment states that take no new subscription.
UNSUBSCRIBABLE_STATES = frozenset({State.CANCELLED.value, State.ARCHIVED.value})


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
    at: datetime | None = None,
    plan_code: str | None = None,
    addon_codes: Iterable[str] = (),
    trial: bool = False,
) -> Deployment:
    """Create a deployment and its first event (from_state null) in one
    transaction, and with `plan_code` its subscription too (add-ons
    snapshotted): all or nothing, so a refused subscribe leaves no deployment
    behind. `at` is its creation time (default now; the demo replays a history).

    With `trial` the plan's active version must offer one (TrialNotOffered), the
    tenant must not have had one of this plan before (TrialAlreadyUsed: one
    trial per tenant per plan, decided by a unique constraint, so two racing
    requests cannot both get one); the deployment starts in `trial` and its
    subscription's trial ends `trial_days` after creation. Without a plan, only
    an operator may create a deployment in `trial` (by hand).

    Validates every field (ValidationError keyed by field). A slug taken in the
    tenant is a validation error, also when two creates race: the unique
    constraint decides and the loser is reported like any other duplicate.
    """
    addon_codes = list(addon_codes)
    if plan_code is None and (trial or addon_codes):
        raise PlanCodeRequired()
    trial_version = None
    if trial:
        trial_version = resolve_plan_version(plan_code=plan_code)
        if trial_version is None:
            raise PlanOrVersionNotFound()
        if trial_version.trial_days == 0:
            raise TrialNotOffered(plan_code)
        if trial_used(tenant_id=tenant.id, plan_id=trial_version.plan_id):
            raise TrialAlreadyUsed(plan_code)
        initial_state = State.TRIAL
    elif plan_code is not None and addon_codes:
        check_addons_on_sale(addon_codes)
    if initial_state not in CREATABLE_STATES:
        raise ValidationError(
            {"state": [f"A deployment starts in one of {sorted(CREATABLE_STATES)}."]}
        )
    if initial_state == State.TRIAL and actor.kind != OPERATOR and not trial:
        raise Forbidden()
    if not scope_for(actor).sees_tenant(tenant.id):
        raise Forbidden()
    errors: dict[str, list[str]] = {}
    if isinstance(display_name, str) and display_name and not display_name.strip():
        # The API trims whitespace before this point; callers that do not
        # (admin, commands) must not store a name that renders as nothing.
        errors["display_name"] = ["This field may not be blank."]
    if region not in settings.ARCADIA_REGIONS:
        errors["region"] = [f"Unknown region {region!r}; one of {settings.ARCADIA_REGIONS}."]
    now = at or timezone.now()
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
    with transaction.atomic():
        try:
            with transaction.atomic():
                deployment.save(force_insert=True)
        except IntegrityError as exc:
            raise ValidationError(
                {"slug": ["A deployment with this slug already exists in the tenant."]}
            ) from exc
        record_transition(
            deployment=deployment,
            from_state=None,
            to_state=deployment.state,
            actor=actor,
            reason="created",
            occurred_at=now,
        )
        if plan_code is not None:
            subscription = create_subscription(
                deployment_id=deployment.pk,
                plan_code=plan_code,
                addon_codes=addon_codes,
                actor=actor,
                at=now,
                trial_ends_at=(
                    now + timedelta(days=trial_version.trial_days) if trial_version else None
                ),
            )
            if trial_version is not None:
                grant_trial(
                    tenant_id=tenant.id, plan_id=trial_version.plan_id, subscription=subscription
                )
    return deployment


def set_billing_override(
    *, deployment_id: UUID, suspended: bool, actor: Actor, reason: str, at: datetime | None = None
) -> Deployment:
    """Turn the billing-action override on or off, with an audit row (who, when, why).

    Locks the row so the flag and its audit trail cannot disagree when two
    operators toggle at once. Operators only. Setting the current value again
    is a no-op without an audit row.
    """
    if actor.kind != OPERATOR:
        raise Forbidden()
    if not reason or not reason.strip():
        raise ValidationError({"reason": ["A reason is required to change the override."]})
    check_reason(reason, model=BillingOverrideChange)
    with transaction.atomic():
        deployment = selectors.lock_deployment_visible_to(actor, deployment_id)
        if deployment.billing_action_suspended == suspended:
            return deployment
        deployment.billing_action_suspended = suspended
        deployment.save(update_fields=["billing_action_suspended", "updated_at"])
        record_override_change(
            deployment=deployment, value=suspended, actor=actor, reason=reason, at=at
        )
    return deployment


def create_subscription(
    *,
    deployment_id: UUID,
    plan_code: str,
    addon_codes: Iterable[str] = (),
    actor: Actor,
    version: int | None = None,
    trial_ends_at: datetime | None = None,
    at: datetime | None = None,
) -> Subscription:
    """Subscribe a deployment to `plan_code` (its active version unless `version`
    is given) with the add-ons `addon_codes`, snapshotted by
    `subscriptions.services.attach_addons`.

    Invariant: one subscription per deployment, all or nothing, with the status
    the deployment's state implies (a paused deployment gets a paused
    subscription). Unknown add-on codes (UnknownAddons), an unknown plan or one
    with nothing on sale (PlanOrVersionNotFound), a deployment outside the
    actor's scope (DeploymentNotFound), a cancelled or archived deployment
    (DeploymentNotSubscribable) or an existing subscription
    (SubscriptionExists) raise before anything is written.

    Locks the deployment row (`SELECT ... FOR UPDATE`), so concurrent subscribe
    calls for one deployment queue up and the later ones see the first's row,
    and a transition cannot interleave between the state check and the insert.
    """
    addon_codes = list(addon_codes)
    plan_version = resolve_plan_version(plan_code=plan_code, version=version)
    if plan_version is None:
        raise PlanOrVersionNotFound()
    check_addons_on_sale(addon_codes)
    with transaction.atomic():
        deployment = selectors.lock_deployment_visible_to(actor, deployment_id)
        if deployment.state in UNSUBSCRIBABLE_STATES:
            raise DeploymentNotSubscribable(deployment.state)
        return open_subscription(
            deployment_id=deployment.pk,
            tenant_id=deployment.tenant_id,
            plan_version=plan_version,
            status=subscription_status_for(deployment.state),
            addon_codes=addon_codes,
            actor=actor,
            trial_ends_at=trial_ends_at,
            at=at,
        )


# -- Plan changes and add-on detaches, within the deployment's limits ---------------


def _locked_subscription(deployment_id: UUID, actor: Actor) -> Subscription:
    """Lock the deployment (in the actor's scope), then return its subscription
    (SubscriptionNotFound without one). The order every path that takes both
    locks keeps: the deployment row first, then the subscription (a move locks
    its deployment, then updates the subscription; the subscription services
    called next lock the subscription row)."""
    deployment = selectors.lock_deployment_visible_to(actor, deployment_id)
    subscription = Subscription.objects.filter(deployment_id=deployment.pk).first()
    if subscription is None:
        raise SubscriptionNotFound()
    return subscription


def change_subscription_plan(
    *,
    deployment_id: UUID,
    plan_code: str,
    actor: Actor,
    version: int | None = None,
    at: datetime | None = None,
    notes: str = "",
) -> Subscription:
    """Move a deployment's subscription to another plan version, unless the
    new version's quotas (plus the attached add-on lines) would leave a kind
    with more in use than its limit (QuotaExceeded, nothing written); then
    `subscriptions.services.change_plan_version` (currency rule, PlanChange).

    The quota is decided under the deployment's row lock, the lock every
    resource create or grow takes first, so no resource can be added between
    the check and the change. Raises PlanOrVersionNotFound, DeploymentNotFound,
    SubscriptionNotFound, QuotaExceeded, and what `change_plan_version` raises.
    """
    target = resolve_plan_version(plan_code=plan_code, version=version)
    if target is None:
        raise PlanOrVersionNotFound()
    with transaction.atomic():
        subscription = _locked_subscription(deployment_id, actor)
        entitlements_of(deployment_id, plan_version=target).check_within_limits()
        return change_plan_version(
            subscription=subscription,
            plan_code=target.plan.code,
            version=target.version,
            actor=actor,
            at=at,
            notes=notes,
        )


def detach_subscription_addon(
    *, deployment_id: UUID, line_id: int, actor: Actor, at: datetime | None = None
) -> SubscriptionAddon:
    """Detach an add-on line of a deployment's subscription, unless the
    resources in use need it (QuotaExceeded: a kind's use would be over the
    limit without the line; nothing written); then
    `subscriptions.services.detach_addon`. Locks as `change_subscription_plan`
    does. Raises DeploymentNotFound, SubscriptionNotFound, QuotaExceeded, and
    what `detach_addon` raises (NotFound for a line that is not this
    subscription's, AddonAlreadyDetached)."""
    with transaction.atomic():
        subscription = _locked_subscription(deployment_id, actor)
        entitlements_of(deployment_id, without_lines=[line_id]).check_within_limits()
        return detach_addon(subscription=subscription, line_id=line_id, actor=actor, at=at)
