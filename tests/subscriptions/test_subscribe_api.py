"""POST /api/v1/deployments/{id}/subscribe, including the Bar of the catalog issue."""

from datetime import UTC, datetime

import pytest

from arcadia_cloud.formats import iso
from catalog.models import Addon, PlanVersion
from catalog.services import (
    create_plan,
    create_plan_version,
    retire_plan_version,
    update_addon,
)
from deployments.models import DeploymentEvent
from subscriptions.models import PlanChange, Subscription, SubscriptionAddon
from subscriptions.periods import current_month_period
from tests.factories import make_deployment, put_in_state
from tests.subscriptions.conftest import subscribe_url

pytestmark = pytest.mark.usefixtures("seeded")


def _nothing_written():
    return (
        Subscription.objects.count() == 0
        and SubscriptionAddon.objects.count() == 0
        and PlanChange.objects.count() == 0
    )


def test_bar_studio_with_storage_keeps_its_price_and_new_subscribers_pay_the_new_one(
    tenant, tenant_client
):
    first = make_deployment(tenant, slug="first")
    second = make_deployment(tenant, slug="second")

    # given a subscription to studio with storage_50gb at today's price
    response = tenant_client.post(
        subscribe_url(first), {"plan_code": "studio", "addons": ["storage_50gb"]}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()["subscription"]
    studio = PlanVersion.objects.get(plan__code="studio", version=1)
    start, end = current_month_period()
    line = SubscriptionAddon.objects.get()
    assert body == {
        "id": body["id"],
        "status": "active",
        "plan_code": "studio",
        "plan_version_id": studio.id,
        "plan_version": 1,
        "price_cents": studio.price_cents,
        "currency": "USD",
        "current_period_start": start.isoformat(),
        "current_period_end": end.isoformat(),
        "trial_ends_at": None,
        "addons": [
            {
                "addon_line_id": line.pk,
                "addon_id": Addon.objects.get(code="storage_50gb").id,
                "code": "storage_50gb",
                "resource_kind": "storage_gb",
                "qty": 50,
                "price_cents": 750,
                "currency": "USD",
                "attached_at": iso(line.attached_at),
            }
        ],
        "pending_changes": [],
    }
    assert Subscription.objects.get().deployment_id == first.pk

    # when the catalog price of storage_50gb changes
    update_addon(addon=Addon.objects.get(code="storage_50gb"), price_cents=900)

    # then the existing subscription still shows 750 (show endpoint and DB)
    shown = tenant_client.get(f"/api/v1/deployments/{first.pk}").json()["subscription"]
    assert shown["addons"][0]["price_cents"] == 750
    assert SubscriptionAddon.objects.get(subscription__deployment=first).price_cents == 750

    # and a new subscriber gets the new price
    response = tenant_client.post(
        subscribe_url(second), {"plan_code": "studio", "addons": ["storage_50gb"]}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["subscription"]["addons"][0]["price_cents"] == 900
    assert SubscriptionAddon.objects.get(subscription__deployment=second).price_cents == 900

    # a second subscribe is 409, and changes nothing
    response = tenant_client.post(subscribe_url(first), {"plan_code": "hobby"}, format="json")
    assert response.status_code == 409
    assert response.json() == {"error": "subscription_exists"}
    assert Subscription.objects.get(deployment=first).plan_version_id == studio.id
    assert SubscriptionAddon.objects.filter(subscription__deployment=first).count() == 1


def test_unknown_addon_is_422_listing_the_codes_and_nothing_is_created(tenant_client, deployment):
    events_before = DeploymentEvent.objects.count()
    response = tenant_client.post(
        subscribe_url(deployment),
        {"plan_code": "studio", "addons": ["storage_50gb", "zeta_gb", "alpha_gb", "zeta_gb"]},
        format="json",
    )
    assert response.status_code == 422
    assert response.json() == {"error": "unknown_addons", "codes": ["alpha_gb", "zeta_gb"]}
    assert _nothing_written()
    assert DeploymentEvent.objects.count() == events_before


def test_inactive_addon_counts_as_unknown(tenant_client, deployment):
    Addon.objects.filter(code="seats_5").update(active=False)
    response = tenant_client.post(
        subscribe_url(deployment), {"plan_code": "studio", "addons": ["seats_5"]}, format="json"
    )
    assert response.status_code == 422
    assert response.json() == {"error": "unknown_addons", "codes": ["seats_5"]}
    assert _nothing_written()


def test_stacked_addons_are_separate_snapshots(tenant_client, deployment):
    response = tenant_client.post(
        subscribe_url(deployment),
        {"plan_code": "team", "addons": ["storage_50gb", "storage_50gb", "seats_5"]},
        format="json",
    )
    assert response.status_code == 201
    codes = [a["code"] for a in response.json()["subscription"]["addons"]]
    assert codes == ["storage_50gb", "storage_50gb", "seats_5"]
    assert SubscriptionAddon.objects.count() == 3


def test_unknown_plan_is_404_plan_or_version_not_found(tenant_client, deployment):
    response = tenant_client.post(subscribe_url(deployment), {"plan_code": "gold"}, format="json")
    assert response.status_code == 404
    assert response.json() == {"error": "plan_or_version_not_found"}
    assert _nothing_written()


def test_plan_without_active_version_is_404(tenant_client, deployment):
    # a plan with only a draft, and one whose only version is retired
    draft_only = create_plan(code="draft_only", name="Draft only")
    create_plan_version(plan=draft_only, price_cents=100, currency="USD")
    retire_plan_version(plan_version=PlanVersion.objects.get(plan__code="hobby"))
    for code in ("draft_only", "hobby"):
        response = tenant_client.post(subscribe_url(deployment), {"plan_code": code}, format="json")
        assert response.status_code == 404
        assert response.json() == {"error": "plan_or_version_not_found"}
    response = tenant_client.post(
        subscribe_url(deployment), {"plan_code": "studio", "version": 7}, format="json"
    )
    assert response.status_code == 404
    assert _nothing_written()


@pytest.mark.parametrize("state", ["cancelled", "archived"])
def test_cancelled_or_archived_deployment_is_not_subscribable(tenant_client, deployment, state):
    put_in_state(deployment, state)
    response = tenant_client.post(subscribe_url(deployment), {"plan_code": "studio"}, format="json")
    assert response.status_code == 422
    assert response.json() == {"error": "deployment_not_subscribable", "state": state}
    assert _nothing_written()


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("active", "active"),
        ("trial", "active"),
        ("past_due", "active"),
        ("paused", "paused"),
        ("suspended", "active"),
    ],
)
def test_other_states_subscribe_with_the_status_their_state_implies(
    tenant_client, deployment, state, status
):
    # a paused deployment gets a paused subscription (which MRR does not count)
    put_in_state(deployment, state)
    response = tenant_client.post(subscribe_url(deployment), {"plan_code": "studio"}, format="json")
    assert response.status_code == 201
    assert response.json()["subscription"]["status"] == status
    assert list(
        Subscription.objects.filter(deployment=deployment).values_list("status", flat=True)
    ) == [status]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"plan_code": ""},
        {"plan_code": 12},
        {"plan_code": "studio", "addons": "storage_50gb"},
        {"plan_code": "studio", "addons": [None]},
        {"plan_code": "studio", "addons": [{"code": "storage_50gb"}]},
        {"plan_code": "studio", "version": "latest"},
        {"plan_code": "studio", "version": 0},
        {"plan_code": "x" * 500},
        {"plan_code": "studio", "version": 2**63},
        {"plan_code": "stu\u0000dio"},
        {"plan_code": "studio", "addons": ["storage 50gb"]},
        ["studio"],
    ],
)
def test_bad_input_is_422_with_field_errors_and_writes_nothing(tenant_client, deployment, body):
    response = tenant_client.post(subscribe_url(deployment), body, format="json")
    assert response.status_code == 422
    assert isinstance(response.json()["error"], dict)
    assert _nothing_written()


@pytest.mark.parametrize("code", ["does-not-exist", "NOPE", "gold.v2"])
def test_any_well_formed_unknown_addon_code_is_reported_as_unknown(tenant_client, deployment, code):
    response = tenant_client.post(
        subscribe_url(deployment), {"plan_code": "studio", "addons": [code]}, format="json"
    )
    assert response.status_code == 422
    assert response.json() == {"error": "unknown_addons", "codes": [code]}
    assert _nothing_written()


def test_malformed_json_is_400(tenant_client, deployment):
    response = tenant_client.generic(
        "POST", subscribe_url(deployment), "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"
    assert _nothing_written()


def test_platform_admin_may_subscribe_any_tenants_deployment(admin_client_api, deployment):
    response = admin_client_api.post(
        subscribe_url(deployment), {"plan_code": "enterprise"}, format="json"
    )
    assert response.status_code == 201
    assert Subscription.objects.get().plan_version.plan.code == "enterprise"


def test_subscription_period_is_the_current_utc_month(tenant_client, deployment):
    tenant_client.post(subscribe_url(deployment), {"plan_code": "studio"}, format="json")
    subscription = Subscription.objects.get()
    today = datetime.now(tz=UTC).date()
    assert subscription.current_period_start == today.replace(day=1)
    assert subscription.current_period_start <= today < subscription.current_period_end
    assert subscription.current_period_end.day == 1
