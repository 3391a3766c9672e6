"""Subscription write services.

Every price a subscriber pays is fixed when it is sold: the plan version is
immutable once published, and add-ons are snapshotted by `attach_addons`, the
one function that copies a live add-on's price onto a subscription.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from arcadia_cloud.actors import Actor
from arcadia_cloud.errors import NotFound
from catalog.errors import PlanOrVersionNotFound
from catalog.selectors import get_addons_on_sale, resolve_plan_version
from subscriptions.errors import (
    CurrencyMismatch,
    DeploymentNotSubscribable,
    PlanVersionUnchanged,
    SubscriptionCancelled,
    SubscriptionExists,
    UnknownAddons,
)
from subscriptions.models import PlanChange, Status, Subscription, SubscriptionAddon
from subscriptions.periods import current_month_period

#: Deployment states that take no new subscription.
UNSUBSCRIBABLE_STATES = frozenset({"cancelled", "archived"})

#: deployment state -> the subscription status it implies; other states
#: (trial, past_due, suspended) leave the subscription as it is.
STATUS_FOR_DEPLOYMENT_STATE = {
    "active": Status.ACTIVE,
    "paused": Status.PAUSED,
    "cancelled": Status.CANCELLED,
    "archived": Status.CANCELLED,
}


def _deployment_model():
    # Resolved through the FK, so this app never imports deployments code.
    return Subscription._meta.get_field("deployment").related_model


def _check_actor_owns(actor: Actor, tenant_id) -> None:
    # Another tenant's deployment does not exist for a tenant actor: the same
    # answer the API's scope gives (SPEC: 404, no existence oracle).
    if actor.kind == "tenant" and actor.tenant_id != tenant_id:
        raise NotFound()


def _addons_on_sale(codes: list[str]) -> list:
    """The live add-on for each code, in order; UnknownAddons naming every code
    not on sale."""
    on_sale = get_addons_on_sale(codes)
    missing = [code for code in codes if code not in on_sale]
    if missing:
        raise UnknownAddons(missing)
    return [on_sale[code] for code in codes]


def _has_subscription(deployment_id) -> bool:
    return Subscription.objects.filter(deployment_id=deployment_id).exists()


def create_subscription(
    *,
    deployment_id: UUID,
    plan_code: str,
    addon_codes: Iterable[str] = (),
    actor: Actor,
    version: int | None = None,
    trial_ends_at: datetime | None = None,
) -> Subscription:
    """Subscribe a deployment to `plan_code` (its active version unless `version`
    is given) with the add-ons `addon_codes`, snapshotted by `attach_addons`.

    Invariant: one subscription per deployment, all or nothing. Unknown add-on
    codes (UnknownAddons), an unknown plan or one with nothing on sale
    (PlanOrVersionNotFound), a cancelled/archived deployment
    (DeploymentNotSubscribable) or an existing subscription (SubscriptionExists)
    raise before anything is written.

    Locks: the deployment row (`SELECT ... FOR UPDATE`), so concurrent subscribe
    calls for one deployment queue up and the later ones see the first's row,
    and so a cancel cannot interleave between the state check and the insert.
    The unique index on deployment_id is the backstop: an IntegrityError from a
    writer that did not take the lock becomes SubscriptionExists, never a 500.
    Side effects: none outside the transaction.
    """
    addon_codes = list(addon_codes)
    plan_version = resolve_plan_version(plan_code=plan_code, version=version)
    if plan_version is None:
        raise PlanOrVersionNotFound()
    # Refused before the lock: unknown codes need no deployment to be wrong.
    _addons_on_sale(addon_codes)
    start, end = current_month_period()
    with transaction.atomic():
        deployment = (
            _deployment_model().objects.select_for_update().filter(pk=deployment_id).first()
        )
        if deployment is None:
            raise NotFound()
        _check_actor_owns(actor, deployment.tenant_id)
        if deployment.state in UNSUBSCRIBABLE_STATES:
            raise DeploymentNotSubscribable(deployment.state)
        if _has_subscription(deployment.pk):
            raise SubscriptionExists()
        try:
            with transaction.atomic():
                subscription = Subscription.objects.create(
                    deployment_id=deployment.pk,
                    plan_version=plan_version,
                    status=Status.ACTIVE,
                    current_period_start=start,
                    current_period_end=end,
                    trial_ends_at=trial_ends_at,
                )
        except IntegrityError as exc:
            raise SubscriptionExists() from exc
        if addon_codes:
            attach_addons(subscription=subscription, addon_codes=addon_codes, actor=actor)
    return subscription


def attach_addon(*, subscription: Subscription, addon_code: str, actor: Actor) -> SubscriptionAddon:
    """Attach one add-on to `subscription` at today's price: `attach_addons`
    with one code (see there for the snapshot, the checks and the lock)."""
    return attach_addons(subscription=subscription, addon_codes=[addon_code], actor=actor)[0]


def attach_addons(
    *, subscription: Subscription, addon_codes: list[str], actor: Actor
) -> list[SubscriptionAddon]:
    """Attach add-ons to `subscription`, snapshotting each live add-on's code,
    resource kind, qty, price and currency: THE one place prices are copied, so a
    later catalog change never reprices this subscriber.

    Attaching the same add-on twice stacks it (two lines, e.g. 2 x 50 GB).
    All or nothing: raises UnknownAddons for codes not on sale,
    SubscriptionCancelled on a cancelled subscription, CurrencyMismatch when an
    add-on is priced in another currency than the plan. Locks the subscription
    row so a concurrent cancel or plan change cannot interleave with the
    checks. A fixed number of queries whatever the number of codes.
    """
    with transaction.atomic():
        locked = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("plan_version", "deployment")
            .get(pk=subscription.pk)
        )
        _check_actor_owns(actor, locked.deployment.tenant_id)
        if locked.status == Status.CANCELLED:
            raise SubscriptionCancelled()
        addons = _addons_on_sale(addon_codes)
        for addon in addons:
            if addon.currency != locked.plan_version.currency:
                raise CurrencyMismatch(locked.plan_version.currency, addon.currency)
        return SubscriptionAddon.objects.bulk_create(
            [
                SubscriptionAddon(
                    subscription=locked,
                    addon=addon,
                    code=addon.code,
                    resource_kind=addon.resource_kind,
                    qty=addon.qty,
                    price_cents=addon.price_cents,
                    currency=addon.currency,
                )
                for addon in addons
            ]
        )


def change_plan_version(
    *, subscription: Subscription, plan_code: str, version: int | None = None, actor: Actor
) -> Subscription:
    """Move `subscription` to another plan version (the plan's active one unless
    `version` is given) and append a PlanChange (from, to, when, who, request id).

    Raises PlanOrVersionNotFound, SubscriptionCancelled, PlanVersionUnchanged
    (already on that version), CurrencyMismatch (the target's currency differs
    from the add-on lines'). Locks the subscription row so two concurrent
    changes are serialised and each PlanChange's from_version is the version
    the subscription really had.
    """
    target = resolve_plan_version(plan_code=plan_code, version=version)
    if target is None:
        raise PlanOrVersionNotFound()
    with transaction.atomic():
        locked = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("deployment")
            .get(pk=subscription.pk)
        )
        _check_actor_owns(actor, locked.deployment.tenant_id)
        if locked.status == Status.CANCELLED:
            raise SubscriptionCancelled()
        if locked.plan_version_id == target.pk:
            raise PlanVersionUnchanged()
        # The add-on lines keep their snapshotted prices: a plan in another
        # currency would leave one subscription billed in two.
        other = locked.addons.exclude(currency=target.currency).values_list("currency", flat=True)
        mismatched = other.first()
        if mismatched is not None:
            raise CurrencyMismatch(mismatched, target.currency)
        PlanChange.objects.create(
            subscription=locked,
            from_version_id=locked.plan_version_id,
            to_version=target,
            actor=actor.label,
            request_id=actor.request_id or "",
        )
        locked.plan_version = target
        locked.save(update_fields=["plan_version", "updated_at"])
    return locked


def follow_deployment_state(*, deployment_ids: list, deployment_state: str) -> int:
    """Make the subscriptions of `deployment_ids` follow their deployment's new state:
    paused pauses, active re-activates, cancelled/archived cancel; other states
    leave the status alone. A cancelled subscription stays cancelled.

    Called by the transition service inside its transaction (and by the batch
    path once per chunk), so it is one set-based UPDATE whatever the number of
    ids; the deployment rows are already locked by the caller. Returns the
    number of subscriptions changed.
    """
    status = STATUS_FOR_DEPLOYMENT_STATE.get(deployment_state)
    if status is None or not deployment_ids:
        return 0
    rows = Subscription.objects.filter(deployment_id__in=deployment_ids).exclude(status=status)
    if status != Status.CANCELLED:
        rows = rows.exclude(status=Status.CANCELLED)
    return rows.update(status=status, updated_at=timezone.now())
