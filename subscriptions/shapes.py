"""The subscription's shape (SPEC §3), one definition for the API (a hot
path: the deployment show endpoint renders it on every call) and the feed's
subscription events."""

from __future__ import annotations

from django.db import connection

from arcadia_cloud.formats import iso, iso_sql
from catalog.models import Plan, PlanVersion
from subscriptions.models import PendingChange, Subscription, SubscriptionAddon


def render_addon(line: SubscriptionAddon) -> dict:
    """One add-on line as sold (`detached_at` only once detached)."""
    shape = {
        "addon_line_id": line.id,
        "addon_id": line.addon_id,
        "code": line.code,
        "resource_kind": line.resource_kind,
        "qty": line.qty,
        "price_cents": line.price_cents,
        "currency": line.currency,
        "attached_at": iso(line.attached_at),
    }
    if line.detached_at is not None:
        shape["detached_at"] = iso(line.detached_at)
    return shape


def render_subscription(subscription: Subscription | None) -> dict | None:
    """`subscription` as `subscriptions.selectors.get_subscription_for_deployment`
    returns it (plan version and plan joined, add-on lines prefetched)."""
    if subscription is None:
        return None
    plan_version = subscription.plan_version
    return {
        "id": subscription.id,
        "status": subscription.status,
        "plan_code": plan_version.plan.code,
        "plan_version_id": plan_version.id,
        "plan_version": plan_version.version,
        "price_cents": plan_version.price_cents,
        "currency": plan_version.currency,
        "current_period_start": subscription.current_period_start.isoformat(),
        "current_period_end": subscription.current_period_end.isoformat(),
        "trial_ends_at": iso(subscription.trial_ends_at),
        "addons": [render_addon(line) for line in subscription.addons.all()],
        "pending_changes": [
            render_pending_change(change) for change in subscription.pending_changes.all()
        ],
    }


def render_pending_change(change: PendingChange) -> dict:
    """A scheduled change (`plan_code`/`plan_version` only for a plan change)."""
    shape = {
        "id": change.id,
        "kind": change.kind,
        "status": change.status,
        "effective_at": iso(change.effective_at),
        "requested_by": change.requested_by,
        "reason": change.reason,
        "created_at": iso(change.created_at),
    }
    if change.target_version_id is not None:
        version = change.target_version
        shape["plan_code"] = version.plan.code
        shape["plan_version"] = version.version
        shape["plan_version_id"] = version.id
    if change.withdrawn_at is not None:
        shape["withdrawn_at"] = iso(change.withdrawn_at)
        shape["withdrawn_reason"] = change.withdrawn_reason
    if change.failed_at is not None:
        shape["failed_at"] = iso(change.failed_at)
        shape["failure_reason"] = change.failure_reason
    return shape


# -- The same shape built by SQL, for set-based writers (a plan migration moves
# a hundred thousand subscriptions); a test holds it equal to the Python one.


def _q(model, column: str | None = None) -> str:
    table = connection.ops.quote_name(model._meta.db_table)
    return table if column is None else f"{table}.{column}"


def subscription_shape_sql(subscription: str, version: str, plan: str) -> str:
    """A PostgreSQL jsonb expression of `render_subscription` for the row
    `subscription` (a subscriptions_subscription alias), joined to its plan
    version `version` and plan `plan`."""
    s, v, p = subscription, version, plan
    addons = _q(SubscriptionAddon)
    changes = _q(PendingChange)
    versions = _q(PlanVersion)
    plans = _q(Plan)
    addon = (
        "jsonb_build_object('addon_line_id', a.id, 'addon_id', a.addon_id, 'code', a.code, "
        "'resource_kind', a.resource_kind, 'qty', a.qty, 'price_cents', a.price_cents, "
        f"'currency', a.currency, 'attached_at', {iso_sql('a.attached_at')})"
    )
    change = (
        "jsonb_build_object('id', c.id, 'kind', c.kind, 'status', 'pending', "
        f"'effective_at', {iso_sql('c.effective_at')}, 'requested_by', c.requested_by, "
        f"'reason', c.reason, 'created_at', {iso_sql('c.created_at')}) || "
        "CASE WHEN c.target_version_id IS NULL THEN '{}'::jsonb ELSE jsonb_build_object("
        "'plan_code', tp.code, 'plan_version', tv.version, 'plan_version_id', tv.id) END"
    )
    return (
        f"jsonb_build_object('id', {s}.id, 'status', {s}.status, 'plan_code', {p}.code, "
        f"'plan_version_id', {v}.id, 'plan_version', {v}.version, "
        f"'price_cents', {v}.price_cents, 'currency', {v}.currency, "
        f"'current_period_start', to_char({s}.current_period_start, 'YYYY-MM-DD'), "
        f"'current_period_end', to_char({s}.current_period_end, 'YYYY-MM-DD'), "
        f"'trial_ends_at', {iso_sql(f'{s}.trial_ends_at')}, "
        f"'addons', COALESCE((SELECT jsonb_agg({addon} ORDER BY a.id) FROM {addons} a "
        f"WHERE a.subscription_id = {s}.id AND a.detached_at IS NULL), '[]'::jsonb), "
        f"'pending_changes', COALESCE((SELECT jsonb_agg({change} ORDER BY c.effective_at, c.id) "
        f"FROM {changes} c LEFT JOIN {versions} tv ON tv.id = c.target_version_id "
        f"LEFT JOIN {plans} tp ON tp.id = tv.plan_id WHERE c.subscription_id = {s}.id "
        "AND c.applied_at IS NULL AND c.withdrawn_at IS NULL AND c.failed_at IS NULL), "
        "'[]'::jsonb))"
    )
