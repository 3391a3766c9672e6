"""The deployments changelist: filters, search, and a query count that does not
grow with the page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from arcadia_cloud.actors import Actor
from deployments.models import Deployment
from deployments.transitions import transition_state
from tests.admin.conftest import SYSTEM, subscribe
from tests.factories import make_deployment

URL = "/admin/deployments/deployment/"
OPERATOR = Actor(kind="operator", label="ops@arcadia.example")


def listed(response) -> set[str]:
    return {d.slug for d in response.context["cl"].result_list}


@pytest.mark.parametrize("count", [5, 50])
def test_changelist_query_count_is_constant(
    count, billing_client, catalog_items, tenant_a, tenant_b, django_assert_max_num_queries
):
    # given: `count` deployments over two tenants, most with a subscription
    for i in range(count):
        deployment = make_deployment(tenant_a if i % 2 else tenant_b)
        if i % 3:
            subscribe(deployment, "studio", "storage_50gb")
    # when/then: the same 9 queries for 5 and for 50 rows:
    #   session, user, user permissions, group permissions, tenants (tenant
    #   filter), plans (plan filter), count, full count, the page (deployments
    #   joined to tenant, subscription, plan version and plan)
    with django_assert_max_num_queries(9):
        response = billing_client.get(URL)
    assert response.status_code == 200
    assert len(listed(response)) == count


def test_changelist_shows_plan_state_and_override(billing_client, catalog_items, shop):
    subscribe(shop, "team")
    response = billing_client.get(URL)
    body = response.content.decode()
    assert "team v1" in body
    assert 'class="state-badge" data-state="active"' in body


@pytest.fixture
def fleet(tenant_a, tenant_b, catalog_items):
    """shop (acme, us-east-1, studio), blog (acme, eu-west-1, paused, team),
    portal (globex, eu-west-1, past_due for 20 days, override on), crm (globex, no plan)."""
    shop = make_deployment(tenant_a, slug="shop", display_name="Acme Shop", region="us-east-1")
    blog = make_deployment(tenant_a, slug="blog", display_name="Acme Blog", region="eu-west-1")
    portal = make_deployment(
        tenant_b, slug="portal", display_name="Globex Portal", region="eu-west-1"
    )
    crm = make_deployment(tenant_b, slug="crm", display_name="Globex CRM", region="us-east-1")
    subscribe(shop, "studio")
    subscribe(blog, "team")
    subscribe(portal, "studio")
    transition_state(deployment_id=blog.pk, to_state="paused", actor=OPERATOR)
    transition_state(deployment_id=portal.pk, to_state="past_due", actor=SYSTEM)
    Deployment.objects.filter(pk=portal.pk).update(
        state_since=timezone.now() - timedelta(days=20), billing_action_suspended=True
    )
    return {"shop": shop, "blog": blog, "portal": portal, "crm": crm}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state__exact=paused", {"blog"}),
        ("region=eu-west-1", {"blog", "portal"}),
        ("plan=studio", {"shop", "portal"}),
        ("plan=-", {"crm"}),
        ("billing_action_suspended__exact=1", {"portal"}),
        ("in_state_days=14", {"portal"}),
        ("in_state_days=30", set()),
        ("state__exact=past_due&in_state_days=7", {"portal"}),
    ],
)
def test_filters(billing_client, fleet, query, expected):
    response = billing_client.get(f"{URL}?{query}")
    assert response.status_code == 200
    assert listed(response) == expected


def test_tenant_filter(billing_client, fleet, tenant_b):
    response = billing_client.get(f"{URL}?tenant__id__exact={tenant_b.pk}")
    assert listed(response) == {"portal", "crm"}


def test_bad_in_state_days_is_refused_not_a_500(billing_client, fleet):
    response = billing_client.get(f"{URL}?in_state_days=abc")
    # Django's changelist answers bad lookups with a redirect to ?e=1
    assert response.status_code == 302
    assert "e=1" in response["Location"]


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("shop", {"shop"}),
        ("Globex Port", {"portal"}),
        ("globex", {"portal", "crm"}),
        ("acme", {"shop", "blog"}),
        ("nothing-like-this", set()),
    ],
)
def test_search(billing_client, fleet, term, expected):
    response = billing_client.get(URL, {"q": term})
    assert listed(response) == expected


def test_search_by_id(billing_client, fleet):
    portal = fleet["portal"]
    response = billing_client.get(URL, {"q": str(portal.pk)})
    assert listed(response) == {"portal"}
    # also as 32 hex digits, as people paste them from logs
    response = billing_client.get(URL, {"q": portal.pk.hex})
    assert listed(response) == {"portal"}
