"""The operator dashboard: figures that match the data, in a bounded number of queries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from arcadia_cloud.actors import Actor
from billing.selectors import monthly_recurring_revenue, revenue_totals
from deployments.models import Deployment
from deployments.transitions import transition_state
from tests.admin.conftest import SYSTEM, subscribe
from tests.factories import make_deployment, put_in_state

URL = "/admin/dashboard/"
OPERATOR = Actor(kind="operator", label="ops@arcadia.example")


def aged_past_due(tenant, days: int, **kw):
    deployment = make_deployment(tenant, **kw)
    transition_state(deployment_id=deployment.pk, to_state="past_due", actor=SYSTEM)
    Deployment.objects.filter(pk=deployment.pk).update(
        state_since=timezone.now() - timedelta(days=days, hours=1)
    )
    return deployment


@pytest.fixture
def platform(tenant_a, tenant_b, catalog_items):
    """Deployments: 3 active (us-east-1 x2, eu-west-1), 1 paused (eu-west-1),
    past_due for 3, 8, 15 and 31 days (ap-southeast-1), 1 cancelled.
    Active subscriptions: studio + storage_50gb, studio, team + seats_5,
    euro + storage_eu; the paused deployment's team subscription is paused."""
    a1 = make_deployment(tenant_a, slug="a1", region="us-east-1")
    a2 = make_deployment(tenant_a, slug="a2", region="us-east-1")
    a3 = make_deployment(tenant_b, slug="a3", region="eu-west-1")
    paused = make_deployment(tenant_b, slug="paused", region="eu-west-1")
    subscribe(a1, "studio", "storage_50gb")
    subscribe(a2, "studio")
    subscribe(a3, "euro", "storage_eu")
    subscribe(paused, "team")
    transition_state(deployment_id=paused.pk, to_state="paused", actor=OPERATOR)
    for days in (3, 8, 15, 31):
        pd = aged_past_due(tenant_b, days, slug=f"pd-{days}", region="ap-southeast-1")
        if days == 8:
            subscribe(pd, "team", "seats_5")
    gone = make_deployment(tenant_a, slug="gone", region="us-east-1")
    put_in_state(gone, "cancelled")


def test_revenue_is_plan_plus_addon_snapshots_per_plan_and_currency(platform):
    lines = {(x.plan_code, x.currency): x for x in monthly_recurring_revenue()}
    assert set(lines) == {("studio", "USD"), ("team", "USD"), ("euro", "EUR")}
    studio = lines[("studio", "USD")]
    assert (studio.subscriptions, studio.plan_cents, studio.addon_cents) == (2, 9800, 750)
    team = lines[("team", "USD")]  # the paused subscription does not count
    assert (team.subscriptions, team.plan_cents, team.addon_cents) == (1, 19900, 2500)
    euro = lines[("euro", "EUR")]
    assert euro.total_cents == 3900 + 600
    assert revenue_totals(list(lines.values())) == {"EUR": 4500, "USD": 9800 + 750 + 22400}


def test_dashboard_figures_match_the_data(support_client, platform):
    response = support_client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    context = response.context
    assert context["total"] == 9
    # past_due for at least 7 / 14 / 30 days
    assert [(p["days"], p["count"]) for p in context["past_due"]] == [(7, 3), (14, 2), (30, 1)]
    # the bar charts carry the counts
    assert "<title>Active: 3</title>" in body
    assert "<title>Past due: 4</title>" in body
    assert "<title>Paused: 1</title>" in body
    assert "<title>Cancelled: 1</title>" in body
    assert "<title>us-east-1: 3</title>" in body
    assert "<title>ap-southeast-1: 4</title>" in body
    # money, per currency, never added across currencies
    assert "329.50 USD" in body  # 98.00 + 7.50 + 199.00 + 25.00
    assert "45.00 EUR" in body
    cents = dict(re.findall(r'data-plan="(\w+)" data-currency="\w+" data-cents="(\d+)"', body))
    assert cents == {"euro": "4500", "studio": "10550", "team": "22400"}
    # the state diagram is on the page
    assert 'class="state-diagram"' in body


def test_latest_events_are_the_20_newest_of_every_kind(support_client, platform, tenant_a):
    from feed.models import Event

    for i in range(10):
        make_deployment(tenant_a, slug=f"late-{i}")
    newest = subscribe(make_deployment(tenant_a, slug="newest"), "studio")
    response = support_client.get(URL)
    rows = [e["row"] for e in response.context["events"]]
    assert len(rows) == 20
    positions = [row.position for row in rows]
    assert positions == sorted(positions, reverse=True)
    expected = list(
        Event.objects.filter(position__isnull=False)
        .order_by("-position")
        .values_list("position", flat=True)[:20]
    )
    assert positions == expected
    # not only moves: the newest is the subscription, on its deployment's row
    assert rows[0].type == "subscription.created"
    first = response.context["events"][0]
    assert (first["slug"], first["tenant"]) == ("newest", "acme")
    assert str(newest.deployment_id) in first["url"]
    body = response.content.decode()
    assert 'data-type="subscription.created"' in body


@pytest.mark.parametrize("extra", [0, 30])
def test_dashboard_query_count_is_bounded(
    extra, support_client, platform, tenant_a, django_assert_max_num_queries
):
    for i in range(extra):
        subscribe(make_deployment(tenant_a, slug=f"more-{i}"), "studio", "storage_50gb")
    # session, user, user perms, group perms, counts by state, counts by region,
    # past_due aging (one conditional aggregate), revenue from plans, revenue
    # from add-ons, latest events (one page of the feed) and their
    # deployments' slugs and tenants, the webhook dispatch lag (one
    # statement); before each of the two feed reads, the feed's "settle own
    # pending events" (run only inside a transaction, as this test is); the
    # tiles: failing endpoints, overrides on, trials ending within 7 days,
    # scheduled cancellations
    with django_assert_max_num_queries(18):
        response = support_client.get(URL)
    assert response.status_code == 200


def test_admin_index_links_the_dashboard(support_client, db):
    body = support_client.get("/admin/").content.decode()
    assert 'href="/admin/dashboard/"' in body
