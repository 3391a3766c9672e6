"""Subscription write services.

Every price a subscriber pays is fixed when it is sold: the plan version is
immutable once published, and add-ons are snapshotted by `attach_addons`, the
one function that copies a live add-on's price onto a subscription.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from uuid import UUID

from django.db import IntegrityError, connection, transaction
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
    TrialAlreadyUsed,
    UnknownAddons,
)
from subscriptions.events import (
    record_addon_detached,
    record_addons_attached,
    record_change_scheduled,
    record_change_withdrawn,
    record_plan_changed,
    record_subscription_created,
)
from subscriptions.models import (
    PendingChange,
    PlanChange,
    Status,
    Subscription,
    SubscriptionAddon,
    TrialGrant,
)
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


def trial_used(*, tenant_id: UUID, plan_id: int) -> bool:
    return TrialGrant.objects.filter(tenant_id=tenant_id, plan_id=plan_id).exists()


def grant_trial(*, tenant_id: UUID, plan_id: int, subscription: Subscription) -> TrialGrant:
    """Record that the tenant has had this plan's trial, inside the caller's
    transaction. The unique (tenant, plan) constraint decides a race: the
    loser gets TrialAlreadyUsed and its whole transaction rolls back."""
    try:
        with transaction.atomic():
            return TrialGrant.objects.create(
                tenant_id=tenant_id, plan_id=plan_id, subscription=subscription
            )
    except IntegrityError as exc:
        raise TrialAlreadyUsed(subscription.plan_version.plan.code) from exc


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


def check_plan_change(locked: Subscription, target: PlanVersion) -> None:
    """THE rules of a plan change, asked when it is made and when a scheduled
    one is requested and applied: SubscriptionCancelled, PlanVersionUnchanged
    (already on that version), CurrencyMismatch (a subscription bills in one
    currency for its whole life: each statement has one currency, and the
    add-on lines keep their snapshotted prices in the plan's currency)."""
    if locked.status == Status.CANCELLED:
        raise SubscriptionCancelled()
    if locked.plan_version_id == target.pk:
        raise PlanVersionUnchanged()
    if target.currency != locked.plan_version.currency:
        raise CurrencyMismatch(locked.plan_version.currency, target.currency)


def change_plan_version(
    *,
    subscription: Subscription,
    plan_code: str,
    version: int | None = None,
    actor: Actor,
    at: datetime | None = None,
    notes: str = "",
) -> Subscription:
    """Move `subscription` to another plan version (the plan's active one unless
    `version` is given) and append a PlanChange (from, to, when, who, request id).

    Raises PlanOrVersionNotFound, SubscriptionCancelled, PlanVersionUnchanged
    (already on that version), CurrencyMismatch (the target is priced in another
    currency than the subscription: a subscription bills in one currency for
    its whole life). Locks the subscription row so two concurrent
    changes are serialised and each PlanChange's from_version is the version
    the subscription really had.

    Entry points call `deployments.services.change_subscription_plan`, which
    locks the deployment first and refuses a change that would leave the
    deployment's resources over its new limits, then calls this.
    """
    target = resolve_plan_version(plan_code=plan_code, version=version)
    if target is None:
        raise PlanOrVersionNotFound()
    with transaction.atomic():
        locked = _locked_in_scope(subscription, actor)
        check_plan_change(locked, target)
        change = PlanChange.objects.create(
            subscription=locked,
            from_version=locked.plan_version,
            to_version=target,
            changed_at=at or timezone.now(),
            actor=actor.label,
            request_id=actor.request_id or "",
        )
        locked.plan_version = target
        locked.save(update_fields=["plan_version", "updated_at"])
        record_plan_changed(
            subscription=locked,
            change=change,
            tenant_id=locked.deployment.tenant_id,
            actor=actor,
            notes=notes,
        )
    return locked


def schedule_change(
    *,
    subscription: Subscription,
    kind: str,
    target: PlanVersion | None,
    actor: Actor,
    reason: str = "",
) -> PendingChange:
    """Schedule `kind` for the end of the subscription's current period, inside
    the caller's transaction (which holds the deployment's and the
    subscription's locks and has checked that the change is allowed now). A
    pending change of the same kind is withdrawn first ("replaced"): at most
    one of each kind waits at a time."""
    effective_at = datetime.combine(
        subscription.current_period_end, datetime.min.time(), tzinfo=UTC
    )
    for old in PendingChange.objects.select_for_update().filter(
        PendingChange.PENDING, subscription=subscription, kind=kind
    ):
        _withdraw(old, subscription=subscription, actor=actor, reason="replaced by a newer request")
    change = PendingChange.objects.create(
        subscription=subscription,
        kind=kind,
        target_version=target,
        effective_at=effective_at,
        requested_by=actor.label,
        requested_by_kind=actor.kind,
        requested_by_identity_id=actor.identity_id,
        requested_by_tenant_id=actor.tenant_id,
        request_id=actor.request_id or "",
        reason=reason or "",
    )
    record_change_scheduled(subscription=subscription, change=change, actor=actor)
    return change


def withdraw_change(
    *, subscription: Subscription, change_id: int, actor: Actor, reason: str = ""
) -> PendingChange:
    """Withdraw a pending change, inside the caller's transaction (which holds
    the subscription's lock). NotFound unless it is this subscription's and
    still pending."""
    change = (
        PendingChange.objects.select_for_update()
        .filter(PendingChange.PENDING, subscription=subscription, pk=change_id)
        .first()
    )
    if change is None:
        raise NotFound()
    _withdraw(change, subscription=subscription, actor=actor, reason=reason or "withdrawn")
    return change


def _withdraw(change: PendingChange, *, subscription: Subscription, actor: Actor, reason: str):
    change.withdrawn_at = timezone.now()
    change.withdrawn_by = actor.label
    change.withdrawn_reason = reason[:500]
    change.save(update_fields=["withdrawn_at", "withdrawn_by", "withdrawn_reason"])
    record_change_withdrawn(subscription=subscription, change=change, actor=actor)


def mark_change(change: PendingChange, *, applied: bool, failure: str = "") -> None:
    """The clock's outcome for a change it applied (or could not: the reason is
    kept, nothing of the change was written)."""
    now = timezone.now()
    if applied:
        change.applied_at = now
        change.save(update_fields=["applied_at"])
    else:
        change.failed_at = now
        change.failure_reason = failure[:500]
        change.save(update_fields=["failed_at", "failure_reason"])


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

    Entry points call `deployments.services.detach_subscription_addon`, which
    locks the deployment first and refuses a detach the resources in use
    need, then calls this.
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
    if connection.vendor == "postgresql":  # the statement below, not compiled per call
        sql, params = status_follow_statement(
            status=status,
            deployment_ids_sql="SELECT unnest(%(follow_ids)s::uuid[])",
            at=timezone.now(),
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, {**params, "follow_ids": list(deployment_ids)})
            return cursor.rowcount
    rows = Subscription.objects.filter(deployment_id__in=deployment_ids).exclude(status=status)
    if status != Status.CANCELLED:
        rows = rows.exclude(status=Status.CANCELLED)
    return rows.update(status=status, updated_at=timezone.now())


def status_follow_statement(
    *, status: str, deployment_ids_sql: str, at: datetime
) -> tuple[str, dict]:
    """`set_status_of_deployments` as a statement for the caller's own (a
    data-modifying `WITH` of the set-based batch, PostgreSQL): the same rows
    (the subscriptions of the deployments `deployment_ids_sql` selects, a
    cancelled one staying cancelled), the same columns. Returns the UPDATE
    (named placeholders) and its values."""
    table = connection.ops.quote_name(Subscription._meta.db_table)
    sql = (
        f"UPDATE {table} SET status = %(follow_status)s::text, updated_at = %(follow_at)s "
        f"WHERE deployment_id IN ({deployment_ids_sql}) AND status <> %(follow_status)s::text"
    )
    params: dict = {"follow_status": status, "follow_at": at}
    if status != Status.CANCELLED:
        sql += " AND status <> %(follow_cancelled)s::text"
        params["follow_cancelled"] = Status.CANCELLED.value
    return sql, params
