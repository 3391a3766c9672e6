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
from arcadia_cloud.scope import scope_for
from catalog.errors import PlanOrVersionNotFound
from catalog.models import PlanVersion
from catalog.selectors import get_addons_on_sale, resolve_plan_version
from subscriptions.errors import (
    AddonAlreadyDetached,
    CurrencyMismatch,
    PlanVersionUnchanged,
    SubscriptionCancelled,
    SubscriptionExists,
    UnknownAddons,
)
from subscriptions.events import (
    record_addon_detached,
    record_addons_attached,
    record_plan_changed,
    record_subscription_created,
)
from subscriptions.models import PlanChange, Status, Subscription, SubscriptionAddon
from subscriptions.periods import current_month_period


def _addons_on_sale(codes: list[str]) -> list:
    """The live add-on for each code, in order; UnknownAddons naming every code
    not on sale."""
    on_sale = get_addons_on_sale(codes)
    missing = [code for code in codes if code not in on_sale]
    if missing:
        raise UnknownAddons(missing)
    return [on_sale[code] for code in codes]


def check_addons_on_sale(codes: Iterable[str]) -> None:
    """UnknownAddons unless every code is an add-on on sale (nothing is locked:
    an unknown code needs no subscription to be wrong)."""
    _addons_on_sale(list(codes))


def _locked_in_scope(subscription: Subscription, actor: Actor) -> Subscription:
    """The subscription, locked, with its plan version; NotFound when it is
    outside the actor's scope (another tenant's deployment's)."""
    locked = (
        scope_for(actor)
        .filter(Subscription.objects.all(), tenant_field="deployment__tenant")
        .select_for_update(of=("self",))
        .select_related("plan_version", "deployment")
        .filter(pk=subscription.pk)
        .first()
    )
    if locked is None:
        raise NotFound()
    return locked


def _has_subscription(deployment_id) -> bool:
    return Subscription.objects.filter(deployment_id=deployment_id).exists()


def open_subscription(
    *,
    deployment_id: UUID,
    tenant_id: UUID,
    plan_version: PlanVersion,
    status: str,
    addon_codes: list[str],
    actor: Actor,
    trial_ends_at: datetime | None = None,
    at: datetime | None = None,
) -> Subscription:
    """Write a deployment's subscription and its add-on lines, inside the
    caller's transaction: the caller (`deployments.services.create_subscription`)
    holds the deployment's row lock and has decided the deployment may take one
    and with which `status`.

    `at` is the subscription's start (default now): its first period is the
    calendar month containing it. The unique index on deployment_id decides a
    race with a writer that did not take the lock: the IntegrityError becomes
    SubscriptionExists, never a 500.
    """
    if _has_subscription(deployment_id):
        raise SubscriptionExists()
    at = at or timezone.now()
    start, end = current_month_period(at)
    try:
        with transaction.atomic():
            subscription = Subscription.objects.create(
                deployment_id=deployment_id,
                plan_version=plan_version,
                status=status,
                current_period_start=start,
                current_period_end=end,
                trial_ends_at=trial_ends_at,
                created_at=at,
            )
    except IntegrityError as exc:
        raise SubscriptionExists() from exc
    record_subscription_created(subscription=subscription, tenant_id=tenant_id, actor=actor, at=at)
    if addon_codes:
        attach_addons(subscription=subscription, addon_codes=addon_codes, actor=actor, at=at)
    return subscription


def attach_addon(*, subscription: Subscription, addon_code: str, actor: Actor) -> SubscriptionAddon:
    """Attach one add-on to `subscription` at today's price: `attach_addons`
    with one code (see there for the snapshot, the checks and the lock)."""
    return attach_addons(subscription=subscription, addon_codes=[addon_code], actor=actor)[0]


def attach_addons(
    *,
    subscription: Subscription,
    addon_codes: list[str],
    actor: Actor,
    at: datetime | None = None,
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
        locked = _locked_in_scope(subscription, actor)
        if locked.status == Status.CANCELLED:
            raise SubscriptionCancelled()
        addons = _addons_on_sale(addon_codes)
        now = timezone.now()
        for addon in addons:
            if addon.currency != locked.plan_version.currency:
                raise CurrencyMismatch(locked.plan_version.currency, addon.currency)
        lines = SubscriptionAddon.objects.bulk_create(
            [
                SubscriptionAddon(
                    subscription=locked,
                    addon=addon,
                    code=addon.code,
                    resource_kind=addon.resource_kind,
                    qty=addon.qty,
                    price_cents=addon.price_cents,
                    currency=addon.currency,
                    attached_at=at or now,
                )
                for addon in addons
            ]
        )
        record_addons_attached(
            subscription=locked, lines=lines, tenant_id=locked.deployment.tenant_id, actor=actor
        )
        return lines


def change_plan_version(
    *, subscription: Subscription, plan_code: str, version: int | None = None, actor: Actor
) -> Subscription:
    """Move `subscription` to another plan version (the plan's active one unless
    `version` is given) and append a PlanChange (from, to, when, who, request id).

    Raises PlanOrVersionNotFound, SubscriptionCancelled, PlanVersionUnchanged
    (already on that version), CurrencyMismatch (the target is priced in another
    currency than the subscription: a subscription bills in one currency for
    its whole life). Locks the subscription row so two concurrent
    changes are serialised and each PlanChange's from_version is the version
    the subscription really had.
    """
    target = resolve_plan_version(plan_code=plan_code, version=version)
    if target is None:
        raise PlanOrVersionNotFound()
    with transaction.atomic():
        locked = _locked_in_scope(subscription, actor)
        if locked.status == Status.CANCELLED:
            raise SubscriptionCancelled()
        if locked.plan_version_id == target.pk:
            raise PlanVersionUnchanged()
        # A subscription bills in one currency for its whole life: each
        # statement has one currency, and the add-on lines keep their
        # snapshotted prices (attached in the plan's currency).
        if target.currency != locked.plan_version.currency:
            raise CurrencyMismatch(locked.plan_version.currency, target.currency)
        change = PlanChange.objects.create(
            subscription=locked,
            from_version=locked.plan_version,
            to_version=target,
            actor=actor.label,
            request_id=actor.request_id or "",
        )
        locked.plan_version = target
        locked.save(update_fields=["plan_version", "updated_at"])
        record_plan_changed(
            subscription=locked, change=change, tenant_id=locked.deployment.tenant_id, actor=actor
        )
    return locked


def detach_addon(
    *, subscription: Subscription, line_id: int, actor: Actor, at: datetime | None = None
) -> SubscriptionAddon:
    """Detach one add-on line: it is billed up to `at` (default now) and no
    longer counts towards the deployment's limits. The line itself stays, for
    the history and the statements.

    Raises NotFound for a line that is not this subscription's (or a
    subscription outside the actor's scope), AddonAlreadyDetached for a line
    detached before. Locks the subscription row, like attaching, so a detach
    and a concurrent plan change or attach are serialised.
    """
    with transaction.atomic():
        locked = _locked_in_scope(subscription, actor)
        line = (
            SubscriptionAddon.objects.select_for_update()
            .filter(subscription_id=locked.pk, pk=line_id)
            .first()
        )
        if line is None:
            raise NotFound()
        if line.detached_at is not None:
            raise AddonAlreadyDetached(line.pk)
        line.detached_at = max(at or timezone.now(), line.attached_at)
        line.save(update_fields=["detached_at"])
        record_addon_detached(
            subscription=locked, line=line, tenant_id=locked.deployment.tenant_id, actor=actor
        )
    return line


def set_status_of_deployments(*, deployment_ids: list, status: str) -> int:
    """Set the status of the subscriptions of `deployment_ids` (the lifecycle's
    "status follows the deployment", decided by `deployments.transitions`). A
    cancelled subscription stays cancelled.

    Called inside the move's transaction, for one row or a whole chunk of a
    batch: one set-based UPDATE whatever the number of ids; the deployment rows
    are already locked by the caller. Returns the number of subscriptions changed.
    """
    if not deployment_ids:
        return 0
    rows = Subscription.objects.filter(deployment_id__in=deployment_ids).exclude(status=status)
    if status != Status.CANCELLED:
        rows = rows.exclude(status=Status.CANCELLED)
    return rows.update(status=status, updated_at=timezone.now())
