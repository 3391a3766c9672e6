"""The feed events of a subscription's facts, one helper per kind, each called
inside the transaction that writes the fact (the fact's own row is its audit:
the subscription, an add-on line with its `attached_at`/`detached_at`, a
`PlanChange`). `data` carries the subscription as it is after the fact.
A subscription sold with add-ons is `subscription.created` followed by one
`subscription.addon_attached` per line.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from arcadia_cloud.actors import Actor
from arcadia_cloud.formats import iso
from feed.record import NewEvent, record_event, record_events
from subscriptions.models import PendingChange, PlanChange, Subscription, SubscriptionAddon
from subscriptions.selectors import SHAPE_PREFETCH
from subscriptions.shapes import render_addon, render_pending_change, render_subscription


def _after(subscription_id: int) -> dict:
    subscription = (
        Subscription.objects.select_related("plan_version__plan")
        .prefetch_related(*SHAPE_PREFETCH)
        .get(pk=subscription_id)
    )
    return render_subscription(subscription)


def _record(
    type_: str, *, subscription: Subscription, tenant_id: UUID, actor: Actor, at, **data
) -> None:
    record_event(
        type=type_,
        tenant_id=tenant_id,
        deployment_id=subscription.deployment_id,
        data={
            **data,
            "actor": actor.label,
            "request_id": actor.request_id or "",
            "subscription": _after(subscription.pk),
        },
        request_id=actor.request_id or "",
        occurred_at=at,
    )


def record_subscription_created(
    *, subscription: Subscription, tenant_id: UUID, actor: Actor, at: datetime
) -> None:
    """`subscription.created`: the subscription with the add-on lines it was
    sold with (those are part of this fact, not separate attaches)."""
    _record(
        "subscription.created", subscription=subscription, tenant_id=tenant_id, actor=actor, at=at
    )


def record_addons_attached(
    *, subscription: Subscription, lines: list[SubscriptionAddon], tenant_id: UUID, actor: Actor
) -> None:
    """One `subscription.addon_attached` per line, in one statement whatever
    their number; each carries the subscription after the whole attach."""
    after = _after(subscription.pk)
    record_events(
        [
            NewEvent(
                type="subscription.addon_attached",
                tenant_id=tenant_id,
                deployment_id=subscription.deployment_id,
                data={
                    "addon_line": render_addon(line),
                    "actor": actor.label,
                    "request_id": actor.request_id or "",
                    "subscription": after,
                },
                request_id=actor.request_id or "",
                occurred_at=line.attached_at,
            )
            for line in lines
        ]
    )


def record_addon_detached(
    *, subscription: Subscription, line: SubscriptionAddon, tenant_id: UUID, actor: Actor
) -> None:
    _record(
        "subscription.addon_detached",
        subscription=subscription,
        tenant_id=tenant_id,
        actor=actor,
        at=line.detached_at,
        addon_line=render_addon(line),
    )


def record_plan_changed(
    *,
    subscription: Subscription,
    change: PlanChange,
    tenant_id: UUID,
    actor: Actor,
    notes: str = "",
) -> None:
    def version(v) -> dict:
        return {
            "plan_version_id": v.pk,
            "plan_code": v.plan.code,
            "plan_version": v.version,
            "price_cents": v.price_cents,
            "currency": v.currency,
        }

    _record(
        "subscription.plan_changed",
        subscription=subscription,
        tenant_id=tenant_id,
        actor=actor,
        at=change.changed_at,
        plan_change_id=change.pk,
        from_version=version(change.from_version),
        to_version=version(change.to_version),
        notes=notes,
    )


def record_trial_will_end(*, subscription: Subscription, tenant_id: UUID, at) -> None:
    """`subscription.trial_will_end`, recorded once by the billing clock
    `ARCADIA_TRIAL_WARNING_DAYS` before the trial ends."""
    _record(
        "subscription.trial_will_end",
        subscription=subscription,
        tenant_id=tenant_id,
        actor=Actor(kind="system", label="system:billing_clock"),
        at=at,
        trial_ends_at=iso(subscription.trial_ends_at),
    )


def record_change_scheduled(
    *, subscription: Subscription, change: PendingChange, actor: Actor
) -> None:
    _record(
        "subscription.change_scheduled",
        subscription=subscription,
        tenant_id=subscription.deployment.tenant_id,
        actor=actor,
        at=change.created_at,
        change=render_pending_change(change),
    )


def record_change_withdrawn(
    *, subscription: Subscription, change: PendingChange, actor: Actor
) -> None:
    _record(
        "subscription.change_withdrawn",
        subscription=subscription,
        tenant_id=subscription.deployment.tenant_id,
        actor=actor,
        at=change.withdrawn_at,
        change=render_pending_change(change),
    )
