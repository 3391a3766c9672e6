"""Billing reads: the money a subscription brings in each month.

What is billed is decided once, in `billing.statements` (`BILLABLE_STATES`);
these reads apply the same rule to today's subscriptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.db.models import Count, QuerySet, Sum

from billing.history import SubscriptionRow, histories_for
from billing.models import Statement
from billing.statements import BILLABLE_STATES, Period, StatementDraft, statement_for
from subscriptions.models import Status, Subscription, SubscriptionAddon


def statements_of(deployment_id: UUID) -> QuerySet[Statement]:
    """A deployment's closed statements, newest first."""
    return Statement.objects.filter(deployment_id=deployment_id).order_by("-id")


def upcoming_statement(subscription: Subscription) -> StatementDraft | None:
    """The preview of the subscription's open period up to its end, assuming
    nothing changes from now on: `statement_for` over today's history, so the
    statement the clock writes at the period's end is the same to the cent
    when nothing changes in between. None once billing has ended."""
    if subscription.billing_ended_at is not None:
        return None
    row = SubscriptionRow(
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
    period = Period(subscription.current_period_start, subscription.current_period_end)
    history = histories_for([row])[row.id]
    return statement_for(history, period, period.ends_at)


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
