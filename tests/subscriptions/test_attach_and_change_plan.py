"""Attaching add-ons after subscribing, and recorded plan changes."""

import pytest

from arcadia_cloud.formats import iso
from catalog.models import Addon, PlanVersion
from catalog.services import (
    create_addon,
    create_plan_version,
    publish_plan_version,
    update_addon,
)
from deployments.services import create_subscription
from subscriptions.models import PlanChange, Subscription, SubscriptionAddon
from tests.factories import put_in_state
from tests.subscriptions.conftest import addons_url, change_plan_url

pytestmark = pytest.mark.usefixtures("seeded")


@pytest.fixture
def subscription(deployment, system_actor):
    return create_subscription(deployment_id=deployment.pk, plan_code="studio", actor=system_actor)


def test_attach_addon_snapshots_the_price_of_today(tenant_client, deployment, subscription):
    response = tenant_client.post(
        addons_url(deployment), {"addon_code": "gpu_hours_10"}, format="json"
    )
    assert response.status_code == 201
    addons = response.json()["subscription"]["addons"]
    line = SubscriptionAddon.objects.get(subscription=subscription)
    assert addons == [
        {
            "addon_line_id": line.pk,
            "addon_id": Addon.objects.get(code="gpu_hours_10").id,
            "code": "gpu_hours_10",
            "resource_kind": "gpu_hours",
            "qty": 10,
            "price_cents": 2900,
            "currency": "USD",
            "attached_at": iso(line.attached_at),
        }
    ]
    # a later catalog change (price, qty, kind) never rewrites the snapshot
    gpu = Addon.objects.get(code="gpu_hours_10")
    update_addon(addon=gpu, price_cents=3500)
    Addon.objects.filter(pk=gpu.pk).update(qty=12, resource_kind="gpu_minutes")
    line = SubscriptionAddon.objects.get(subscription=subscription)
    assert (line.qty, line.resource_kind, line.price_cents) == (10, "gpu_hours", 2900)
    shown = tenant_client.get(f"/api/v1/deployments/{deployment.pk}").json()
    assert shown["subscription"]["addons"][0]["price_cents"] == 2900


def test_attach_unknown_addon_is_422_and_writes_nothing(tenant_client, deployment, subscription):
    response = tenant_client.post(addons_url(deployment), {"addon_code": "nope"}, format="json")
    assert response.status_code == 422
    assert response.json() == {"error": "unknown_addons", "codes": ["nope"]}
    assert SubscriptionAddon.objects.count() == 0


def test_attach_addon_in_another_currency_is_422(tenant_client, deployment, subscription):
    create_addon(
        code="storage_eu",
        name="EU storage",
        resource_kind="storage_gb",
        qty=50,
        price_cents=700,
        currency="EUR",
    )
    response = tenant_client.post(
        addons_url(deployment), {"addon_code": "storage_eu"}, format="json"
    )
    assert response.status_code == 422
    assert response.json() == {"error": "currency_mismatch", "expected": "USD", "actual": "EUR"}
    assert SubscriptionAddon.objects.count() == 0


def test_cancelled_subscription_takes_no_addon_and_no_plan_change(
    tenant_client, deployment, subscription
):
    put_in_state(deployment, "cancelled")
    Subscription.objects.filter(pk=subscription.pk).update(status="cancelled")
    response = tenant_client.post(addons_url(deployment), {"addon_code": "seats_5"}, format="json")
    assert response.status_code == 422
    assert response.json() == {"error": "subscription_cancelled"}
    response = tenant_client.post(change_plan_url(deployment), {"plan_code": "team"}, format="json")
    assert response.status_code == 422
    assert response.json() == {"error": "subscription_cancelled"}
    assert SubscriptionAddon.objects.count() == 0
    assert PlanChange.objects.count() == 0


def test_change_plan_records_from_to_when_who_and_request_id(
    tenant_client, tenant_identity, deployment, subscription
):
    studio_v1 = subscription.plan_version
    team = PlanVersion.objects.get(plan__code="team")
    response = tenant_client.post(
        change_plan_url(deployment),
        {"plan_code": "team"},
        format="json",
        HTTP_X_REQUEST_ID="req-change-1",
    )
    assert response.status_code == 200
    body = response.json()["subscription"]
    assert (body["plan_code"], body["plan_version_id"], body["price_cents"]) == (
        "team",
        team.id,
        team.price_cents,
    )
    change = PlanChange.objects.get()
    assert change.subscription_id == subscription.pk
    assert change.from_version_id == studio_v1.id
    assert change.to_version_id == team.id
    assert change.actor == tenant_identity.email
    assert change.request_id == "req-change-1"
    assert change.changed_at is not None
    assert Subscription.objects.get().plan_version_id == team.id


def test_change_to_a_specific_version_and_back(tenant_client, deployment, subscription):
    studio_v1 = subscription.plan_version
    v2 = create_plan_version(plan=studio_v1.plan, price_cents=5900, currency="USD")
    publish_plan_version(plan_version=v2)
    # a new studio version does not reprice the existing subscriber
    assert Subscription.objects.get().plan_version_id == studio_v1.id
    response = tenant_client.post(
        change_plan_url(deployment), {"plan_code": "studio"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["subscription"]["plan_version"] == 2
    assert response.json()["subscription"]["price_cents"] == 5900
    response = tenant_client.post(
        change_plan_url(deployment), {"plan_code": "studio", "version": 1}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["subscription"]["plan_version"] == 1
    assert list(PlanChange.objects.values_list("from_version_id", "to_version_id")) == [
        (studio_v1.id, v2.id),
        (v2.id, studio_v1.id),
    ]


def test_change_to_the_current_version_is_422(tenant_client, deployment, subscription):
    response = tenant_client.post(
        change_plan_url(deployment), {"plan_code": "studio"}, format="json"
    )
    assert response.status_code == 422
    assert response.json() == {"error": "plan_version_unchanged"}
    assert PlanChange.objects.count() == 0


def test_change_to_unknown_plan_is_404(tenant_client, deployment, subscription):
    response = tenant_client.post(change_plan_url(deployment), {"plan_code": "gold"}, format="json")
    assert response.status_code == 404
    assert response.json() == {"error": "plan_or_version_not_found"}
    assert PlanChange.objects.count() == 0
    assert Subscription.objects.get().plan_version_id == subscription.plan_version_id


@pytest.mark.parametrize("body", [{}, {"plan_code": None}, {"plan_code": "team", "version": -1}])
def test_change_plan_bad_input_is_422(tenant_client, deployment, subscription, body):
    response = tenant_client.post(change_plan_url(deployment), body, format="json")
    assert response.status_code == 422
    assert isinstance(response.json()["error"], dict)
    assert PlanChange.objects.count() == 0


@pytest.mark.parametrize("body", [{}, {"addon_code": 5}, {"addon_code": ["seats_5"]}])
def test_attach_bad_input_is_422(tenant_client, deployment, subscription, body):
    response = tenant_client.post(addons_url(deployment), body, format="json")
    assert response.status_code == 422
    assert isinstance(response.json()["error"], dict)
    assert SubscriptionAddon.objects.count() == 0


def test_change_to_a_plan_in_another_currency_than_the_addon_lines_is_422(
    tenant_client, deployment, system_actor
):
    from catalog.services import create_plan

    create_subscription(
        deployment_id=deployment.pk,
        plan_code="studio",
        addon_codes=["storage_50gb"],
        actor=system_actor,
    )
    euro = create_plan(code="euro_studio", name="Studio (EUR)")
    publish_plan_version(
        plan_version=create_plan_version(plan=euro, price_cents=4500, currency="EUR")
    )
    response = tenant_client.post(
        change_plan_url(deployment), {"plan_code": "euro_studio"}, format="json"
    )
    assert response.status_code == 422
    assert response.json() == {"error": "currency_mismatch", "expected": "USD", "actual": "EUR"}
    assert Subscription.objects.get().plan_version.plan.code == "studio"
    assert not PlanChange.objects.exists()
