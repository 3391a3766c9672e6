"""Search by tenant name, identity email and id prefix; the filters survive a
move; "days in state"; one date format; the tenant page as a hub; the
dashboard's "needs attention" tiles."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from arcadia_cloud.actors import Actor
from console.dates import plural, relative, utc_text
from deployments.models import Deployment
from deployments.scheduling import cancel_subscription
from deployments.services import set_billing_override
from deployments.transitions import transition_state
from subscriptions.models import Subscription
from tests.admin.conftest import subscribe
from tests.factories import IdentityFactory, make_deployment
from webhooks.models import WebhookEndpoint

CHANGELIST = "/admin/deployments/deployment/"
OPERATOR = Actor(kind="operator", label="ops@arcadia.example")


def found(client, q: str) -> set[str]:
    response = client.get(CHANGELIST, {"q": q})
    assert response.status_code == 200
    return {d.slug for d in response.context["cl"].result_list}


# -- search ---------------------------------------------------------------------


def test_search_by_tenant_name(support_client, shop, tenant_b):
    make_deployment(tenant_b, slug="portal")
    assert found(support_client, "Acme Corp") == {"shop"}
    assert found(support_client, "globex") == {"portal"}


def test_search_by_an_identity_email_finds_its_tenants_deployments(
    support_client, shop, tenant_a, tenant_b
):
    IdentityFactory(email="jane@acme.example", tenant=tenant_a)
    IdentityFactory(email="joe@acme.example", tenant=tenant_a)  # no duplicate rows
    make_deployment(tenant_a, slug="blog")
    make_deployment(tenant_b, slug="portal")
    assert found(support_client, "jane@acme.example") == {"shop", "blog"}
    assert found(support_client, "@acme.example") == {"shop", "blog"}
    response = support_client.get(CHANGELIST, {"q": "@acme.example"})
    assert response.context["cl"].result_count == 2


def test_search_by_id_prefix_is_an_exact_prefix(support_client, tenant_a):
    deployments = [make_deployment(tenant_a, slug=f"app-{i}") for i in range(6)]
    target = deployments[3]
    text = str(target.pk)
    assert found(support_client, text) == {"app-3"}
    assert found(support_client, text[:13]) == {"app-3"}  # with its hyphen
    assert found(support_client, text[:8].upper()) == {"app-3"}
    expected = {d.slug for d in deployments if str(d.pk).startswith(text[:4])}
    assert found(support_client, text[:4]) == expected
    # not a substring match: the id's tail finds nothing
    assert found(support_client, text[-12:]) == set()
    # too short or not hex: no id match (and no error)
    assert found(support_client, text[:3]) <= {d.slug for d in deployments if text[:3] in d.slug}
    assert found(support_client, "zzzz-") == set()


def test_id_prefix_search_is_a_range_on_the_primary_key(support_client, shop):
    with CaptureQueriesContext(connection) as ctx:
        support_client.get(CHANGELIST, {"q": str(shop.pk)[:8]})
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    assert '"deployments_deployment"."id" >=' in sql
    assert '"deployments_deployment"."id" <=' in sql


# -- the list's search and filters survive a move -------------------------------


def test_the_changelist_filters_survive_a_move(billing_client, shop):
    filters = urlencode({"q": "shop", "state__exact": "active"})
    change = f"/admin/deployments/deployment/{shop.pk}/change/"
    body = billing_client.get(change, {"_changelist_filters": filters}).content.decode()
    preserved = quote(filters, safe="")
    button = re.search(r'data-to-state="paused" href="([^"]+)"', body).group(1)
    assert f"_changelist_filters={preserved}" in button.replace("&amp;", "&")
    back = re.search(r'href="([^"]+)" id="back-to-list"', body).group(1)
    assert back.replace("&amp;", "&") == f"{CHANGELIST}?{filters}"

    response = billing_client.post(
        button.replace("&amp;", "&"), {"reason": "holiday", "expected_state": "active"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"{change}?_changelist_filters={preserved}"
    shop.refresh_from_db()
    assert shop.state == "paused"
    landed = billing_client.get(response["Location"]).content.decode()
    back = re.search(r'href="([^"]+)" id="back-to-list"', landed).group(1)
    assert back.replace("&amp;", "&") == f"{CHANGELIST}?{filters}"


# -- dates ----------------------------------------------------------------------


def test_one_date_format_with_relative_time_and_plurals():
    now = datetime(2026, 12, 4, 14, 3, tzinfo=UTC)
    assert utc_text(datetime(2026, 12, 1, 14, 3, 59, tzinfo=UTC)) == "2026-12-01 14:03 UTC"
    assert relative(now - timedelta(days=3, hours=5), now) == "3 days ago"
    assert relative(now - timedelta(days=1, hours=2), now) == "1 day ago"
    assert relative(now - timedelta(minutes=1), now) == "1 minute ago"
    assert relative(now - timedelta(seconds=20), now) == "just now"
    assert relative(now + timedelta(hours=2, minutes=5), now) == "in 2 hours"
    assert plural(1, "day") == "1 day"
    assert plural(0, "day") == "0 days"
    assert plural(1200, "entry", "entries") == "1,200 entries"


def test_django_fields_use_the_same_format(support_client, shop):
    body = support_client.get(f"/admin/deployments/deployment/{shop.pk}/change/").content.decode()
    created = shop.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert created in body
    assert "a.m." not in body
    assert "p.m." not in body


def test_days_in_state_column_is_pluralized_and_costs_no_query(
    support_client, tenant_a, django_assert_max_num_queries
):
    for days in (0, 1, 2):
        d = make_deployment(tenant_a, slug=f"d{days}")
        Deployment.objects.filter(pk=d.pk).update(
            state_since=timezone.now() - timedelta(days=days, hours=1)
        )
    body = support_client.get(CHANGELIST).content.decode()
    cells = re.findall(r'<td class="field-days_in_state"><span title="[^"]+">([^<]+)</span>', body)
    assert sorted(cells) == ["0 days", "1 day", "2 days"]
    assert "1 days" not in body


# -- the tenant page as a hub -----------------------------------------------------


def test_tenant_page_is_a_hub(support_client, catalog_items, tenant_a, tenant_b, shop):
    blog = make_deployment(tenant_a, slug="blog")
    paused = make_deployment(tenant_a, slug="paused-app")
    make_deployment(tenant_b, slug="foreign")
    subscribe(shop, "team", "seats_5")
    subscribe(blog, "studio")
    subscribe(paused, "studio")
    transition_state(deployment_id=paused.pk, to_state="paused", actor=OPERATOR, reason="hold")
    IdentityFactory(email="jane@acme.example", tenant=tenant_a)
    response = support_client.get(f"/admin/arcadia_cloud/tenant/{tenant_a.pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    counts = dict(re.findall(r'data-state="(\w+)" data-count="(\d+)"', body))
    assert counts["active"] == "2"
    assert counts["paused"] == "1"
    assert (
        f"/admin/deployments/deployment/?tenant__id__exact={tenant_a.pk}&amp;state__exact=paused"
        in body
    )
    # MRR: billed now only (team 199.00 + seats 25.00 + studio 49.00; paused not billed)
    assert re.search(r'class="num tenant-mrr">273.00 USD<', body)
    subs = body[body.index('id="tenant-subscriptions"') : body.index('id="tenant-events"')]
    assert subs.count('class="tenant-subscription"') == 3
    assert "foreign" not in body
    assert "jane@acme.example" in body
    events = body[body.index('id="tenant-events"') :]
    assert "“hold”" in events
    assert "paused-app" in events


def test_deployment_page_links_its_tenant_hub(support_client, shop, tenant_a):
    body = support_client.get(f"/admin/deployments/deployment/{shop.pk}/change/").content.decode()
    assert f'href="/admin/arcadia_cloud/tenant/{tenant_a.pk}/change/" id="tenant-link"' in body


# -- dashboard tiles ------------------------------------------------------------------


@pytest.fixture
def attention(catalog_items, tenant_a, tenant_b, shop):
    """2 overrides on, 1 trial ending in 3 days and 1 in 20, 1 scheduled
    cancellation, 1 failing and 1 disabled webhook endpoint (and a healthy one)."""
    for slug in ("o1", "o2"):
        d = make_deployment(tenant_a, slug=slug)
        set_billing_override(deployment_id=d.pk, suspended=True, actor=OPERATOR, reason="vip")
    for slug, days in (("t3", 3), ("t20", 20)):
        d = make_deployment(tenant_b, slug=slug, initial_state="trial", actor=OPERATOR)
        subscribe(d, "studio")
        Subscription.objects.filter(deployment=d).update(
            trial_ends_at=timezone.now() + timedelta(days=days)
        )
    subscribe(shop, "studio")
    cancel_subscription(deployment_id=shop.pk, actor=OPERATOR, at_period_end=True, reason="bye")
    now = timezone.now()
    WebhookEndpoint.objects.create(tenant=tenant_a, url="https://a.example/h")
    WebhookEndpoint.objects.create(
        tenant=tenant_a, url="https://b.example/h", failing_since=now - timedelta(hours=3)
    )
    WebhookEndpoint.objects.create(
        tenant=tenant_b,
        url="https://c.example/h",
        enabled=False,
        disabled_at=now,
        disabled_reason="410 Gone",
    )


def tiles(client) -> dict[str, dict]:
    response = client.get("/admin/dashboard/")
    assert response.status_code == 200
    return {t["id"]: t for t in response.context["tiles"]}


def test_dashboard_tiles_count_and_link_to_the_filtered_lists(support_client, attention):
    found_tiles = tiles(support_client)
    expected = {
        "tile-overrides": (2, {"o1", "o2"}),
        "tile-trials": (1, {"t3"}),
        "tile-cancellations": (1, {"shop"}),
    }
    for tile_id, (n, slugs) in expected.items():
        tile = found_tiles[tile_id]
        assert tile["n"] == n, tile_id
        listed = support_client.get(tile["url"])
        assert listed.status_code == 200, tile["url"]
        assert {d.slug for d in listed.context["cl"].result_list} == slugs, tile_id
    webhooks = found_tiles["tile-webhooks"]
    assert webhooks["n"] == 2
    listed = support_client.get(webhooks["url"])
    assert listed.status_code == 200
    assert {e.url for e in listed.context["cl"].result_list} == {
        "https://b.example/h",
        "https://c.example/h",
    }


def test_dashboard_feed_lag_is_the_feed_head_against_the_dispatch_cursor(support_client, attention):
    from feed.selectors import feed_head
    from webhooks.dispatch import dispatch

    lag = support_client.get("/admin/dashboard/").context["lag"]
    head = feed_head()
    assert lag.head == head
    assert lag.cursor == 0
    assert lag.behind > 0
    assert lag.oldest_at is not None
    dispatch()
    lag = support_client.get("/admin/dashboard/").context["lag"]
    assert (lag.cursor, lag.behind, lag.oldest_at) == (head, 0, None)
    tile = tiles(support_client)["tile-feed-lag"]
    assert tile["n"] == "0"
    assert tile["level"] == "ok"


def test_dashboard_charts_link_to_the_lists_and_the_diagram_is_last(support_client, attention):
    body = support_client.get("/admin/dashboard/").content.decode()
    assert (
        '<a href="/admin/deployments/deployment/?state__exact=active" class="chart-link">' in body
    )
    assert '<a href="/admin/deployments/deployment/?region=us-east-1" class="chart-link">' in body
    assert body.index('id="attention-tiles"') < body.index('id="chart-states"')
    assert body.index('id="latest-events"') < body.index('id="state-diagram"')
