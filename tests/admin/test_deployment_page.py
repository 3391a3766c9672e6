"""The deployment page: header, subscription with its monthly total, timeline,
the tenant's other deployments; its query count does not grow with history."""

from __future__ import annotations

import re

import pytest

from deployments.resources import create_resource
from deployments.transitions import transition_state
from feed.models import Event
from tests.admin.conftest import SYSTEM, subscribe
from tests.factories import make_deployment


def page(client, deployment) -> str:
    response = client.get(f"/admin/deployments/deployment/{deployment.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_header_shows_tenant_state_since_and_override(support_client, shop):
    body = page(support_client, shop)
    header = body[body.index('class="console-header"') : body.index('id="console-actions"')]
    assert "Acme Corp" in header
    assert 'data-state="active"' in header
    assert shop.state_since.strftime("%Y-%m-%d %H:%M UTC") in header
    override = body[body.index('id="override-flag"') : body.index('id="console-actions"')]
    assert "Billing override off:" in override


def test_subscription_block_totals_plan_and_addon_snapshots(support_client, catalog_items, shop):
    # given: team (199.00) + storage_50gb (7.50) + seats_5 (25.00), all USD
    subscribe(shop, "team", "storage_50gb", "seats_5")
    body = page(support_client, shop)
    block = body[body.index('id="subscription"') : body.index('id="statements"')]
    assert "Team" in block
    assert "version 1" in block
    assert "199.00 USD" in block
    assert "7.50 USD" in block
    assert "25.00 USD" in block
    total = re.search(r'id="monthly-total">([^<]*)<', block).group(1)
    assert total == "231.50 USD"
    subscription_url = f"/admin/subscriptions/subscription/{shop.subscription.pk}/change/"
    assert subscription_url in block
    assert support_client.get(subscription_url).status_code == 200


def test_no_subscription_is_said(support_client, shop):
    body = page(support_client, shop)
    assert "No subscription." in body


def test_other_deployments_of_the_tenant_are_linked(support_client, shop, tenant_a, tenant_b):
    blog = make_deployment(tenant_a, slug="blog")
    foreign = make_deployment(tenant_b, slug="foreign")
    body = page(support_client, shop)
    others = body[body.index('id="other-deployments"') :]
    assert f"/admin/deployments/deployment/{blog.pk}/change/" in others
    assert str(foreign.pk) not in others
    assert f"?tenant__id__exact={tenant_a.pk}" in others


@pytest.mark.parametrize(("moves", "others"), [(1, 1), (40, 20)])
def test_page_query_count_does_not_grow_with_history(
    moves, others, billing_client, catalog_items, shop, tenant_a, django_assert_max_num_queries
):
    subscribe(shop, "studio", "storage_50gb")
    for n in range(others):
        make_deployment(tenant_a, slug=f"blog-{n}")
        create_resource(
            deployment_id=shop.pk, kind="storage_gb", name=f"disk-{n}", qty=1, actor=SYSTEM
        )
    for i in range(moves):
        transition_state(
            deployment_id=shop.pk, to_state="past_due" if i % 2 == 0 else "active", actor=SYSTEM
        )
    billing_client.get(f"/admin/deployments/deployment/{shop.pk}/change/")  # warm caches
    # session, user, the deployment with its tenant and plan, user perms, group
    # perms, subscription with plan version and plan, its add-ons, its pending
    # changes, the open period's preview (deployment events, plan changes,
    # add-on lines, plan versions), the tenant's other deployments, the last
    # override change, the feed's "settle own pending events" (only inside a
    # transaction, as this test runs), the timeline (one page of feed events),
    # the newest closed statements; the entitlements (plan version's quotas,
    # add-on sums, resource sums), the newest resources (<= 50)
    with django_assert_max_num_queries(21):
        response = billing_client.get(f"/admin/deployments/deployment/{shop.pk}/change/")
    assert response.status_code == 200
    assert response.content.decode().count("/admin/deployments/deployment/") >= others
    events = Event.objects.filter(deployment_id=shop.pk).count()
    assert response.content.decode().count('class="event"') == min(events, 20)


def test_entitlements_and_resources_are_on_the_page(support_client, catalog_items, shop):
    subscribe(shop, "studio", "storage_50gb")
    create_resource(deployment_id=shop.pk, kind="storage_gb", name="uploads", qty=30, actor=SYSTEM)
    body = page(support_client, shop)
    entitlements = body[body.index('id="entitlements"') : body.index('id="resources"')]
    # the test catalog's studio includes no quota: the add-on line is the limit
    assert 'data-kind="storage_gb"' in entitlements
    assert "30 / 50" in entitlements
    resources = body[body.index('id="resources"') : body.index('id="resources-link"')]
    assert "uploads" in resources
    assert "0 / 1" in resources  # observed generation / generation
    assert "pending" in resources
    assert f"?deployment__id__exact={shop.pk}" in body


def test_no_subscription_says_every_limit_is_zero(support_client, shop):
    body = page(support_client, shop)
    assert "every limit is 0" in body
    assert "No resources." in body
