"""Changes scheduled for the end of the current period, and the clock applying them.

A tenant or an operator may ask for a cancellation or a plan change to take
effect when the subscription's current period ends (`cancel_subscription`
with `at_period_end`, `schedule_plan_change`). The request is checked now with
the same rules as doing it now (the map for a cancellation, the plan-change
rules and the quota rule), so a change that could not be made is refused at once; it is stored
as a `PendingChange` and shown in `subscription.pending_changes`, and may be
withdrawn until it applies.

At the boundary the billing clock calls `apply_changes_due`: each change is
made through the same services as a change made now (`transition_state`,
`change_subscription_plan`), as of the boundary, with the authority of the identity
that requested it, so every rule is checked again then. A change that has
become impossible is marked failed with its reason and nothing of it is
written. A scheduled cancellation wins over a scheduled plan change at the
same boundary (the plan change is withdrawn, with that reason).

Locks: the deployment row first, then the subscription row, the order every
writer of both takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.db import transaction

from arcadia_cloud.actors import SYSTEM, Actor
from arcadia_cloud.errors import DomainError
from catalog.errors import PlanOrVersionNotFound
from catalog.selectors import resolve_plan_version
from deployments import selectors
from deployments.entitlements import entitlements_of
from deployments.events import check_reason
from deployments.models import Deployment, State
from deployments.services import change_subscription_plan
from deployments.transitions import check_move, transition_state
from subscriptions.errors import SubscriptionNotFound
from subscriptions.models import PendingChange, Subscription
from subscriptions.services import (
    check_plan_change,
    mark_change,
    schedule_change,
    withdraw_change,
)

CLOCK = "the billing clock"


def _locked(deployment_id: UUID, actor: Actor) -> tuple[Deployment, Subscription]:
    deployment = selectors.lock_deployment_visible_to(actor, deployment_id)
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan_version", "deployment")
        .filter(deployment_id=deployment.pk)
        .first()
    )
    if subscription is None:
        raise SubscriptionNotFound()
    return deployment, subscription


def cancel_subscription(
    *, deployment_id: UUID, actor: Actor, at_period_end: bool, reason: str = ""
) -> PendingChange | Deployment:
    """Cancel now (the move to `cancelled`, through `transition_state`), or
    schedule it for the end of the current period. Either way the map must let
    `actor` cancel the deployment from its state now (InvalidTransition,
    TransitionForbidden)."""
    check_reason(reason)
    if not at_period_end:
        with transaction.atomic():
            _locked(deployment_id, actor)  # a deployment without subscription: 404
            return transition_state(
                deployment_id=deployment_id,
                to_state=State.CANCELLED,
                actor=actor,
                reason=reason or "subscription cancelled",
            )
    with transaction.atomic():
        deployment, subscription = _locked(deployment_id, actor)
        check_move(deployment.state, State.CANCELLED, actor, deployment)
        return schedule_change(
            subscription=subscription,
            kind=PendingChange.Kind.CANCEL,
            target=None,
            actor=actor,
            reason=reason,
        )


def schedule_plan_change(
    *,
    deployment_id: UUID,
    plan_code: str,
    version: int | None = None,
    actor: Actor,
    reason: str = "",
) -> PendingChange:
    """Schedule a move to `plan_code` (its active version unless `version`) for
    the end of the current period; refused now if it could not be made now
    (`check_plan_change`)."""
    check_reason(reason)
    target = resolve_plan_version(plan_code=plan_code, version=version)
    if target is None:
        raise PlanOrVersionNotFound()
    with transaction.atomic():
        _, subscription = _locked(deployment_id, actor)
        check_plan_change(subscription, target)
        entitlements_of(deployment_id, plan_version=target).check_within_limits()
        return schedule_change(
            subscription=subscription,
            kind=PendingChange.Kind.CHANGE_PLAN,
            target=target,
            actor=actor,
            reason=reason,
        )


def withdraw_pending_change(
    *, deployment_id: UUID, change_id: int, actor: Actor, reason: str = ""
) -> PendingChange:
    """Withdraw a change that has not applied yet (NotFound otherwise)."""
    check_reason(reason)
    with transaction.atomic():
        _, subscription = _locked(deployment_id, actor)
        return withdraw_change(
            subscription=subscription, change_id=change_id, actor=actor, reason=reason
        )


def requester_of(change: PendingChange) -> Actor:
    """The authority a scheduled change applies with: who asked for it."""
    return Actor(
        kind=change.requested_by_kind,
        label=change.requested_by,
        identity_id=change.requested_by_identity_id,
        tenant_id=change.requested_by_tenant_id,
        request_id=change.request_id or "",
    )


@dataclass
class Applied:
    applied: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def apply_changes_due(*, subscription_id: int, boundary: datetime) -> Applied:
    """Apply the subscription's pending changes effective at or before
    `boundary`, oldest first, a cancellation before a plan change of the same
    boundary (which it supersedes), each as of its `effective_at`, inside the
    caller's transaction (the clock's chunk, which holds the deployment's
    lock). Each change runs in its own savepoint: a refusal leaves nothing of
    it behind and marks it failed with the refusal."""
    outcome = Applied()
    due = list(
        PendingChange.objects.select_for_update(of=("self",))
        .filter(PendingChange.PENDING, subscription_id=subscription_id, effective_at__lte=boundary)
        .select_related("subscription", "target_version__plan")
        .order_by("effective_at", "kind", "id")  # "cancel" < "change_plan"
    )
    cancelled_at = None
    for change in due:
        if cancelled_at is not None and change.effective_at >= cancelled_at:
            _supersede(change)
            continue
        actor = requester_of(change)
        notes = (
            f"Scheduled by {change.requested_by} on {change.created_at:%Y-%m-%d %H:%M} UTC; "
            f"applied by {CLOCK} at the end of the period."
        )
        try:
            with transaction.atomic():
                _apply(change, actor, notes)
        except DomainError as exc:
            mark_change(change, applied=False, failure=f"{exc.code}: {exc}")
            outcome.failed += 1
            outcome.errors.append(f"pending change {change.pk} ({change.kind}): {exc.code}")
            continue
        mark_change(change, applied=True)
        outcome.applied += 1
        if change.kind == PendingChange.Kind.CANCEL:
            cancelled_at = change.effective_at
    return outcome


def _apply(change: PendingChange, actor: Actor, notes: str) -> None:
    subscription = change.subscription
    if change.kind == PendingChange.Kind.CANCEL:
        transition_state(
            deployment_id=subscription.deployment_id,
            to_state=State.CANCELLED,
            actor=actor,
            reason=change.reason or "scheduled cancellation",
            notes=notes,
            at=change.effective_at,
        )
        return
    version = change.target_version
    change_subscription_plan(
        deployment_id=subscription.deployment_id,
        plan_code=version.plan.code,
        version=version.version,
        actor=actor,
        at=change.effective_at,
        notes=notes,
    )


def _supersede(change: PendingChange) -> None:
    withdraw_change(
        subscription=change.subscription,
        change_id=change.pk,
        actor=Actor(kind=SYSTEM, label="system:billing_clock"),
        reason="superseded by the scheduled cancellation",
    )
