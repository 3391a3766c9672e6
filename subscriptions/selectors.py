"""Subscription reads.

Tenant scoping happens on the deployment (`deployments.selectors`) before any
of these is called with its id.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.db.models import Count, Prefetch, QuerySet, Sum

from subscriptions.models import Status, Subscription, SubscriptionAddon


def addon_lines() -> QuerySet[SubscriptionAddon]:
    """A subscription's add-on lines, in the order they were attached."""
    return SubscriptionAddon.objects.order_by("id")


def get_subscription_for_deployment(deployment_id: UUID) -> Subscription | None:
    """The deployment's subscription with its plan version and plan joined and
    its add-on lines prefetched (two queries), or None."""
    return (
        Subscription.objects.select_related("plan_version__plan")
        .prefetch_related(Prefetch("addons", queryset=addon_lines()))
        .filter(deployment_id=deployment_id)
        .first()
    )


def addons_of(subscription_id: int) -> QuerySet[SubscriptionAddon]:
    return addon_lines().filter(subscription_id=subscription_id)


def monthly_total_by_currency(
    subscription: Subscription, addons: list[SubscriptionAddon]
) -> dict[str, int]:
    """What a subscription bills a month, per currency, in integer cents: its plan
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


def monthly_recurring_revenue() -> list[RevenueLine]:
    """Monthly recurring revenue of active subscriptions, one line per (plan,
    currency): the plan versions' prices plus the add-on snapshots' prices, in
    integer cents. Two aggregate queries, whatever the number of subscriptions.

    Add-ons are counted in their own (snapshotted) currency, so a line never adds
    two currencies together.
    """
    active = Subscription.objects.filter(status=Status.ACTIVE).order_by()
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
        SubscriptionAddon.objects.filter(subscription__status=Status.ACTIVE)
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
