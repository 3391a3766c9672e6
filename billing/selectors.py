"""Billing reads: the money a subscription brings in each month.

What is billed is decided once, in `billing.statements` (`BILLABLE_STATES`);
these reads apply the same rule to today's subscriptions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from uuid import UUID

from django.db import connection
from django.db.models import BooleanField, Count, QuerySet, Sum
from django.db.models.expressions import RawSQL

from billing.history import SubscriptionRow, histories_for
from billing.models import Statement
from billing.statements import BILLABLE_STATES, Period, PlanTerm, StatementDraft, statement_for
from catalog.models import PlanVersion
from subscriptions.models import Status, Subscription, SubscriptionAddon


def statements_of(deployment_id: UUID) -> QuerySet[Statement]:
    """A deployment's closed statements, newest first."""
    return Statement.objects.filter(deployment_id=deployment_id).order_by("-id")


def subscription_to_preview(deployment_id: UUID) -> Subscription | None:
    """The deployment's subscription row alone (one query, nothing joined or
    prefetched): all `upcoming_statement` reads of it; the history it reads
    itself."""
    return Subscription.objects.filter(deployment_id=deployment_id).first()


def _row(subscription: Subscription) -> SubscriptionRow:
    return SubscriptionRow(
        id=subscription.pk,
        deployment_id=subscription.deployment_id,
        tenant_id=None,
        plan_version_id=subscription.plan_version_id,
        status=subscription.status,
        current_period_start=subscription.current_period_start,
        current_period_end=subscription.current_period_end,
        created_at=subscription.created_at,
        trial_ends_at=subscription.trial_ends_at,
    )


def upcoming_statement(subscription: Subscription) -> StatementDraft | None:
    """The preview of the subscription's open period up to its end, assuming
    nothing changes from now on: `statement_for` over today's history, so the
    statement the clock writes at the period's end is the same to the cent
    when nothing changes in between. None once billing has ended."""
    if subscription.billing_ended_at is not None:
        return None
    row = _row(subscription)
    period = Period(subscription.current_period_start, subscription.current_period_end)
    history = histories_for([row])[row.id]
    return statement_for(history, period, period.ends_at)


def plan_change_preview(
    subscription: Subscription, target: PlanVersion, at: datetime
) -> tuple[StatementDraft, StatementDraft] | None:
    """The open period's statement as it stands, and as it would be with the
    subscription on `target` from `at` (both to the period's end, assuming
    nothing else changes): `statement_for` over today's history, and over the
    same history with one more plan term. The difference is the plan change's
    pro-rated effect on the current period. None once billing has ended, or
    when `target` is priced in another currency (no such change is allowed).
    Four queries (`histories_for`); `target` comes with its plan loaded."""
    if subscription.billing_ended_at is not None:
        return None
    row = _row(subscription)
    period = Period(subscription.current_period_start, subscription.current_period_end)
    history = histories_for([row])[row.id]
    if target.currency != history.currency:
        return None
    term = PlanTerm(
        max(at, history.plans[-1].since),
        target.pk,
        target.plan.code,
        target.version,
        target.price_cents,
        target.currency,
        f"{target.plan.name} v{target.version}",
    )
    changed = replace(history, plans=(*history.plans, term))
    return (
        statement_for(history, period, period.ends_at),
        statement_for(changed, period, period.ends_at),
    )


def monthly_total_by_currency(
    subscription: Subscription, addons: list[SubscriptionAddon]
) -> dict[str, int]:
    """What a subscription bills a month, per currency, in integer minor units: its plan
    version's price plus the snapshotted prices of its add-ons. `subscription`
    comes with its plan_version loaded (as `get_subscription_for_deployment`
    returns it). No query."""
    version = subscription.plan_version
    totals: dict[str, int] = {version.currency: version.price_cents}
    for line in addons:
        totals[line.currency] = totals.get(line.currency, 0) + line.price_cents
    return dict(sorted(totals.items()))


@dataclass(frozen=True)
class RevenueLine:
    plan_code: str
    plan_name: str
    currency: str
    subscriptions: int
    plan_cents: int
    addon_cents: int

    @property
    def total_cents(self) -> int:
        return self.plan_cents + self.addon_cents


def billed_now(tenant_id: UUID | None = None) -> QuerySet[Subscription]:
    """Subscriptions billed right now: active, on a deployment in a billable
    state (`BILLABLE_STATES`: not trial, not paused, not cancelled or archived);
    one tenant's only when `tenant_id` is given."""
    billed = Subscription.objects.filter(
        status=Status.ACTIVE, deployment__state__in=BILLABLE_STATES
    ).order_by()
    if tenant_id is not None:
        billed = billed.filter(deployment__tenant_id=tenant_id)
    return billed


def monthly_recurring_revenue(tenant_id: UUID | None = None) -> list[RevenueLine]:
    """Monthly recurring revenue of the subscriptions billed now, one line per
    (plan, currency): the plan versions' prices plus the attached add-on
    snapshots' prices, in integer minor units. Two aggregate queries, whatever
    the number of subscriptions.

    Add-ons are counted in their own (snapshotted) currency, so a line never adds
    two currencies together. `tenant_id`: that tenant's subscriptions only.
    """
    active = billed_now(tenant_id)
    lines: dict[tuple[str, str], dict] = {}
    for row in active.values(
        "plan_version__plan__code", "plan_version__plan__name", "plan_version__currency"
    ).annotate(n=Count("id"), cents=Sum("plan_version__price_cents")):
        key = (row["plan_version__plan__code"], row["plan_version__currency"])
        lines[key] = {
            "plan_name": row["plan_version__plan__name"],
            "subscriptions": row["n"],
            "plan_cents": row["cents"] or 0,
            "addon_cents": 0,
        }
    addon_rows = (
        SubscriptionAddon.objects.filter(
            subscription__in=billed_now(tenant_id).values("pk"), detached_at__isnull=True
        )
        .order_by()
        .values(
            "subscription__plan_version__plan__code",
            "subscription__plan_version__plan__name",
            "currency",
        )
        .annotate(cents=Sum("price_cents"))
        .values_list(
            "subscription__plan_version__plan__code",
            "subscription__plan_version__plan__name",
            "currency",
            "cents",
        )
    )
    for code, name, currency, cents in addon_rows:
        line = lines.setdefault(
            (code, currency),
            {"plan_name": name, "subscriptions": 0, "plan_cents": 0, "addon_cents": 0},
        )
        line["addon_cents"] += cents or 0
    return [
        RevenueLine(plan_code=code, currency=currency, **values)
        for (code, currency), values in sorted(lines.items())
    ]


def revenue_totals(lines: list[RevenueLine]) -> dict[str, int]:
    """Sum of `lines` per currency (never across currencies)."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.currency] = totals.get(line.currency, 0) + line.total_cents
    return dict(sorted(totals.items()))


def statements_billing_plan(statements: QuerySet[Statement], plan_code: str) -> QuerySet[Statement]:
    """The statements among `statements` with a plan line of `plan_code` (the
    plan billed in the period, which the lines record, not the one the
    subscription is on today). jsonb containment on PostgreSQL; SQLite, which
    Django's JSON `contains` lookup does not support, reads the lines with
    json_each."""
    if connection.vendor == "postgresql":
        return statements.filter(lines__contains=[{"kind": "plan", "code": plan_code}])
    table = connection.ops.quote_name(Statement._meta.db_table)
    return statements.filter(
        RawSQL(
            f"EXISTS (SELECT 1 FROM json_each({table}.lines) AS line "
            "WHERE json_extract(line.value, '$.kind') = 'plan' "
            "AND json_extract(line.value, '$.code') = %s)",
            [plan_code],
            output_field=BooleanField(),
        )
    )


def statement_periods(limit: int = 36) -> list[date]:
    """The newest `limit` periods with statements, newest first (the
    (period_start, id) index answers it)."""
    return list(
        Statement.objects.order_by("-period_start")
        .values_list("period_start", flat=True)
        .distinct()[:limit]
    )
