"""The operator dashboard (`/admin/dashboard/`, linked from the admin index):
first what needs an operator today (overrides on, trials ending within 7
days, scheduled cancellations, failing webhook endpoints, the webhook
dispatch lag behind the feed, aging past_due), then deployments by state and
region, MRR by plan, the newest events and, lowest, the state diagram. Every
tile and chart bar links to the list it counts. A fixed number of aggregate
queries, whatever the fleet size."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe

from billing.selectors import monthly_recurring_revenue, revenue_totals
from console.charts import Bar, bar_chart, format_money, state_colour
from console.forms import state_label
from console.timeline import fleet_recent, linked
from deployments import selectors
from deployments.diagram import svg as state_diagram_svg
from subscriptions.selectors import scheduled_cancellations, trials_ending_within
from webhooks.selectors import dispatch_lag, failing_endpoints

#: "Trials ending soon" looks this many days ahead.
TRIAL_DAYS_AHEAD = 7
#: Events in the dashboard's "Latest events" (every kind, from the feed).
LATEST = 20


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """Deployments by state and region, aging past_due, MRR by plan, the newest
    events and the state diagram. A fixed number of aggregate queries."""
    if not request.user.has_perm("deployments.view_deployment"):
        raise PermissionDenied
    by_state = selectors.deployment_counts_by_state()
    by_region = selectors.deployment_counts_by_region()
    past_due = selectors.past_due_older_than()
    revenue = monthly_recurring_revenue()
    totals = revenue_totals(revenue)
    events = linked(fleet_recent(limit=LATEST).rows)
    changelist = reverse("admin:deployments_deployment_changelist")
    lag = dispatch_lag()
    context = {
        **admin.site.each_context(request),
        "title": "Operator dashboard",
        "total": sum(by_state.values()),
        "state_chart": mark_safe(  # bar_chart escapes every label
            bar_chart(
                [
                    Bar(state_label(s), n, state_colour(s), f"{changelist}?state__exact={s}")
                    for s, n in by_state.items()
                ],
                title="Deployments by state",
            )
        ),
        "region_chart": mark_safe(  # bar_chart escapes every label
            bar_chart(
                [Bar(r, n, "#1a73e8", f"{changelist}?region={r}") for r, n in by_region.items()],
                title="Deployments by region",
            )
        ),
        "past_due": [
            {
                "days": days,
                "count": count,
                "url": f"{changelist}?state__exact=past_due&in_state_days={days}",
            }
            for days, count in past_due.items()
        ],
        "revenue": [
            {
                "line": line,
                "plan_money": format_money(line.plan_cents, line.currency),
                "addon_money": format_money(line.addon_cents, line.currency),
                "total_money": format_money(line.total_cents, line.currency),
                "url": f"{changelist}?plan={line.plan_code}",
            }
            for line in revenue
        ],
        "revenue_totals": [format_money(c, cur) for cur, c in totals.items()],
        "events": events,
        "tiles": _tiles(changelist, lag),
        "lag": lag,
        "diagram": mark_safe(state_diagram_svg()),  # generated from the map, names escaped
        "changelist": changelist,
    }
    return TemplateResponse(request, "admin/deployments/dashboard.html", context)


def _tiles(changelist: str, lag) -> list[dict]:
    """What needs an operator today, each with the list it counts. One
    aggregate query each."""
    endpoints = reverse("admin:webhooks_webhookendpoint_changelist")
    deliveries = reverse("admin:webhooks_delivery_changelist")
    failing = failing_endpoints().count()
    overrides = selectors.overrides_on_count()
    trials = trials_ending_within(TRIAL_DAYS_AHEAD).count()
    cancellations = scheduled_cancellations().count()
    behind = f"more than {lag.behind:,}" if lag.capped else f"{lag.behind:,}"
    return [
        {
            "id": "tile-overrides",
            "n": overrides,
            "label": "billing overrides on (automated billing actions suspended)",
            "url": f"{changelist}?billing_action_suspended__exact=1",
            "level": "warn" if overrides else "",
        },
        {
            "id": "tile-trials",
            "n": trials,
            "label": f"trials ending within {TRIAL_DAYS_AHEAD} days",
            "url": f"{changelist}?trial_ends_days={TRIAL_DAYS_AHEAD}",
            "level": "warn" if trials else "",
        },
        {
            "id": "tile-cancellations",
            "n": cancellations,
            "label": "cancellations scheduled for the period's end",
            "url": f"{changelist}?scheduled=cancel",
            "level": "warn" if cancellations else "",
        },
        {
            "id": "tile-webhooks",
            "n": failing,
            "label": "webhook endpoints failing or disabled",
            "url": f"{endpoints}?failing=yes",
            "level": "bad" if failing else "ok",
        },
        {
            "id": "tile-feed-lag",
            "n": behind,
            "label": "feed events not yet dispatched to webhooks (feed head "
            f"{lag.head:,}, dispatch cursor {lag.cursor:,})",
            "since": lag.oldest_at,
            "url": f"{deliveries}?status__exact=pending",
            "level": "bad" if lag.capped else ("warn" if lag.behind else "ok"),
        },
    ]
