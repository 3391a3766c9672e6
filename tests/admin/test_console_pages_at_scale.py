"""The deployment page, the tenant page and the dashboard cost the same fixed
number of queries with a handful of deployments and with 5,000 (half of them
the measured tenant's), every one subscribed with an add-on."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arcadia_cloud.actors import Actor
from catalog.models import Addon, PlanVersion
from deployments.models import Deployment
from deployments.scheduling import cancel_subscription
from deployments.services import set_billing_override
from deployments.transitions import transition_state
from subscriptions.models import Subscription, SubscriptionAddon
from tests.admin.conftest import subscribe
from tests.factories import TenantFactory

OPERATOR = Actor(kind="operator", label="ops@arcadia.example")
FLEET = 5_000

# Queries of each page. The test runs inside a transaction, so on PostgreSQL
# each page that reads the feed first runs its "settle own pending events"
# statement (SQLite positions events at insert: no such statement).
#
# deployment page: session, user, the deployment with tenant and plan, user
# perms, group perms, subscription with plan version and plan, its add-ons,
# its pending changes, the open period's preview (deployment events, plan
# changes, add-on lines, plan versions), the tenant's other deployments, the
# last override change, one page of the feed, the newest closed
# statements, entitlements (quotas, add-on sums, resource sums), newest
# resources.
DEPLOYMENT_PAGE = 20
# tenant page: session, user, the tenant, user perms, group perms, deployments
# per state, subscriptions, MRR (plans, add-ons), identities, one page
# of the feed, the events' deployment slugs.
TENANT_PAGE = 12
# dashboard: session, user, user perms, group perms, counts by state, by
# region, past_due aging, MRR (plans, add-ons), latest events (one page of
# the feed), their deployments' slugs, the dispatch lag, failing endpoints,
# overrides on, trials ending, scheduled cancellations.
DASHBOARD = 16


def grow_fleet(tenant, others, n: int) -> None:
    """`n` deployments, half `tenant`'s, each subscribed to studio with the
    50 GB add-on (bulk rows: what is measured is the pages reading them)."""
    version = PlanVersion.objects.get(plan__code="studio")
    addon = Addon.objects.get(code="storage_50gb")
    deployments = Deployment.objects.bulk_create(
        [
            Deployment(
                tenant=tenant if i % 2 == 0 else others[i % len(others)],
                slug=f"fleet-{i}",
                display_name=f"Fleet {i}",
                region=["us-east-1", "eu-west-1"][i % 2],
                state=["active", "paused", "past_due", "suspended"][i % 4],
                billing_action_suspended=i % 10 == 0,
            )
            for i in range(n)
        ],
        batch_size=1000,
    )
    subscriptions = Subscription.objects.bulk_create(
        [Subscription(deployment=d, plan_version=version) for d in deployments],
        batch_size=1000,
    )
    SubscriptionAddon.objects.bulk_create(
        [
            SubscriptionAddon(
                subscription=s,
                addon=addon,
                code=addon.code,
                resource_kind=addon.resource_kind,
                qty=addon.qty,
                price_cents=addon.price_cents,
                currency=addon.currency,
            )
            for s in subscriptions
        ],
        batch_size=1000,
    )


def count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_console_pages_cost_the_same_at_5000_deployments(
    billing_client, catalog_items, tenant_a, shop
):
    others = [TenantFactory(slug=f"other-{i}") for i in range(20)]
    subscribe(shop, "studio", "storage_50gb")
    transition_state(deployment_id=shop.pk, to_state="past_due", actor=OPERATOR, reason="card")
    set_billing_override(deployment_id=shop.pk, suspended=True, actor=OPERATOR, reason="vip")
    cancel_subscription(deployment_id=shop.pk, actor=OPERATOR, at_period_end=True, reason="bye")
    pages = {
        "deployment": (f"/admin/deployments/deployment/{shop.pk}/change/", DEPLOYMENT_PAGE),
        "tenant": (f"/admin/arcadia_cloud/tenant/{tenant_a.pk}/change/", TENANT_PAGE),
        "dashboard": ("/admin/dashboard/", DASHBOARD),
    }
    for url, _ in pages.values():
        count(billing_client, url)  # warm the per-process caches (content types)
    small = {name: count(billing_client, url) for name, (url, _) in pages.items()}

    grow_fleet(tenant_a, others, FLEET)
    assert Deployment.objects.count() == FLEET + 1
    large = {name: count(billing_client, url) for name, (url, _) in pages.items()}

    assert large == small
    # On PostgreSQL each feed read first settles this transaction's own
    # pending events: once per page, twice on the dashboard (latest events and
    # the dispatch lag).
    settles = {"deployment": 1, "tenant": 1, "dashboard": 2}
    if connection.vendor != "postgresql":
        settles = dict.fromkeys(settles, 0)
    assert large == {name: pinned + settles[name] for name, (_, pinned) in pages.items()}
    tenant_page = billing_client.get(pages["tenant"][0]).content.decode()
    # the hub's counts are over the whole fleet of the tenant (shop + half of it)
    assert f"{FLEET // 2 + 1} in all" in tenant_page
