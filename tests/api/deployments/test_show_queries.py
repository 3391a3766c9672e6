"""The show endpoint's queries stay constant in events and add-ons (the hot
read path the HTTP benchmark measures)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from deployments.services import create_subscription
from deployments.transitions import transition_state
from tests.factories import SYSTEM_ACTOR, make_deployment

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy_deployment(tenant):
    call_command("seed_catalog", verbosity=0)
    system = SYSTEM_ACTOR
    deployment = make_deployment(tenant)
    state = "active"
    for _ in range(30):
        state = "past_due" if state == "active" else "active"
        transition_state(deployment_id=deployment.pk, to_state=state, actor=system)
    create_subscription(
        deployment_id=deployment.pk,
        plan_code="studio",
        addon_codes=["storage_50gb"],
        actor=system,
    )
    return deployment


#: PostgreSQL: token, deployment, lines + changes, events; elsewhere the
#: ORM's prefetches read the lines and the changes apart.
_WITH_SUBSCRIPTION = 4 if connection.vendor == "postgresql" else 5


def test_show_is_four_queries_with_subscription_and_events(
    tenant_client, busy_deployment, django_assert_max_num_queries
):
    tenant_client.get("/api/v1/me")  # the token's last-used write happens once, here
    # 1: token JOIN identity JOIN tenant
    # 2: deployment LEFT JOIN subscription, plan version, plan
    # 3: the subscription's add-on lines and pending changes, one list
    #    (the ORM elsewhere: two prefetches)
    # 4: the newest 100 events
    with django_assert_max_num_queries(_WITH_SUBSCRIPTION):
        response = tenant_client.get(f"/api/v1/deployments/{busy_deployment.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["subscription"]["plan_code"] == "studio"
    assert [a["code"] for a in body["subscription"]["addons"]] == ["storage_50gb"]
    assert len(body["events"]) == 31


def test_show_without_subscription(tenant_client, tenant, django_assert_max_num_queries):
    deployment = make_deployment(tenant)
    tenant_client.get("/api/v1/me")
    # 1: token; 2: deployment LEFT JOIN subscription (none); 3: events
    with django_assert_max_num_queries(3):
        response = tenant_client.get(f"/api/v1/deployments/{deployment.pk}")
    assert response.status_code == 200
    assert response.json()["subscription"] is None
    assert len(response.json()["events"]) == 1


def test_show_stays_four_queries_with_many_addon_lines(
    tenant_client, busy_deployment, django_assert_max_num_queries
):
    from catalog.models import Addon
    from subscriptions.models import Subscription
    from subscriptions.services import attach_addon

    subscription = Subscription.objects.get(deployment=busy_deployment)
    system = SYSTEM_ACTOR
    usd = list(Addon.objects.filter(currency="USD").values_list("code", flat=True))
    for _ in range(3):  # the same add-on may be attached more than once
        for code in usd:
            attach_addon(subscription=subscription, addon_code=code, actor=system)
    lines = 1 + 3 * len(usd)
    assert lines >= 10
    tenant_client.get("/api/v1/me")
    # the same queries as with one line: the add-on lines are one query
    with django_assert_max_num_queries(_WITH_SUBSCRIPTION):
        response = tenant_client.get(f"/api/v1/deployments/{busy_deployment.pk}")
    assert response.status_code == 200
    assert len(response.json()["subscription"]["addons"]) == lines
