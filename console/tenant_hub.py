"""The tenant page as a hub: what an operator asks about a customer, on one
page, in a fixed number of queries whatever the tenant's size: deployments
per state (each count links to the filtered list), subscriptions, monthly
recurring revenue (the billed-now rule of `billing.selectors`), identities and
the newest events of all its deployments (from the feed)."""

from __future__ import annotations

from django.urls import reverse

from arcadia_cloud.models import Tenant, User
from arcadia_cloud.money import format_money
from billing.selectors import monthly_recurring_revenue, revenue_totals
from console.charts import state_badge
from console.timeline import linked, tenant_recent
from deployments.selectors import state_counts_of_tenant
from subscriptions.models import Subscription

#: Subscriptions and identities listed on the page (the rest: the linked lists).
SHOWN = 20


def tenant_hub(tenant: Tenant) -> dict:
    """Eight queries: state counts, subscriptions, MRR (two), identities, the
    feed page, the events' deployment slugs (and, inside a transaction, the
    feed's settle statement)."""
    changelist = reverse("admin:deployments_deployment_changelist")
    tenant_filter = f"tenant__id__exact={tenant.pk}"
    counts = state_counts_of_tenant(tenant.pk)
    subscriptions = list(
        Subscription.objects.filter(deployment__tenant_id=tenant.pk)
        .select_related("deployment", "plan_version__plan")
        .order_by("-created_at", "-id")[:SHOWN]
    )
    revenue = monthly_recurring_revenue(tenant.pk)
    identities = list(
        User.objects.filter(tenant_id=tenant.pk).order_by("email").only("email", "name")[:SHOWN]
    )
    recent = tenant_recent(tenant.pk)
    return {
        "states": [
            {
                "state": state,
                "badge": state_badge(state),
                "count": n,
                "url": f"{changelist}?{tenant_filter}&state__exact={state}",
            }
            for state, n in counts.items()
        ],
        "total": sum(counts.values()),
        "deployments_url": f"{changelist}?{tenant_filter}",
        "subscriptions": [
            {
                "subscription": s,
                "price": format_money(s.plan_version.price_cents, s.plan_version.currency),
                "url": reverse("admin:subscriptions_subscription_change", args=[s.pk]),
                "deployment_url": reverse(
                    "admin:deployments_deployment_change", args=[s.deployment_id]
                ),
            }
            for s in subscriptions
        ],
        "subscriptions_url": (
            reverse("admin:subscriptions_subscription_changelist") + f"?q={tenant.slug}"
        ),
        "shown": SHOWN,
        "revenue": [
            {"line": line, "total": format_money(line.total_cents, line.currency)}
            for line in revenue
        ],
        "revenue_totals": [format_money(c, cur) for cur, c in revenue_totals(revenue).items()],
        "identities": identities,
        "identities_url": reverse("admin:arcadia_cloud_user_changelist")
        + f"?tenant__id__exact={tenant.pk}",
        "events": linked(recent.rows),
    }
