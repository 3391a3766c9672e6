"""Every subscription and catalog route: 401 without a token, 404 for another
tenant's deployment (exactly like a missing one), 404 for a non-UUID id."""

import uuid

import pytest

from deployments.services import create_subscription
from subscriptions.models import PlanChange, Subscription, SubscriptionAddon
from tests.subscriptions.conftest import addons_url, change_plan_url, subscribe_url

pytestmark = pytest.mark.usefixtures("seeded")

ROUTES = [
    (subscribe_url, {"plan_code": "studio", "addons": ["storage_50gb"]}),
    (addons_url, {"addon_code": "storage_50gb"}),
    (change_plan_url, {"plan_code": "team"}),
]


class _Missing:
    pk = uuid.uuid4()


@pytest.fixture
def subscribed_foreign(foreign_deployment, system_actor):
    return create_subscription(
        deployment_id=foreign_deployment.pk, plan_code="studio", actor=system_actor
    )


def _counts():
    return (
        Subscription.objects.count(),
        SubscriptionAddon.objects.count(),
        PlanChange.objects.count(),
    )


@pytest.mark.parametrize(("url", "body"), ROUTES)
def test_foreign_deployment_is_404_like_a_missing_one(
    tenant_client, foreign_deployment, subscribed_foreign, url, body
):
    before = _counts()
    foreign = tenant_client.post(url(foreign_deployment), body, format="json")
    missing = tenant_client.post(url(_Missing), body, format="json")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() == {"error": "not_found"}
    assert _counts() == before
    assert Subscription.objects.get().plan_version.plan.code == "studio"


@pytest.mark.parametrize(("url", "body"), ROUTES)
def test_without_token_is_401(anon_client, foreign_deployment, subscribed_foreign, url, body):
    before = _counts()
    response = anon_client.post(url(foreign_deployment), body, format="json")
    assert response.status_code == 401
    assert response.json() == {"error": "unauthenticated"}
    assert _counts() == before


@pytest.mark.parametrize("path", ["/api/v1/plans", "/api/v1/addons"])
def test_catalog_without_token_is_401(anon_client, path):
    response = anon_client.get(path)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthenticated"}


@pytest.mark.parametrize("suffix", ["subscribe", "subscription/addons", "subscription/change-plan"])
def test_non_uuid_id_is_json_404(tenant_client, suffix):
    response = tenant_client.post(
        f"/api/v1/deployments/not-a-uuid/{suffix}", {"plan_code": "studio"}, format="json"
    )
    assert response.status_code == 404
    assert response.json() == {"error": "not_found"}


@pytest.mark.parametrize(("url", "body"), ROUTES[1:])
def test_own_deployment_without_subscription_is_404(tenant_client, deployment, url, body):
    response = tenant_client.post(url(deployment), body, format="json")
    assert response.status_code == 404
    assert response.json() == {"error": "subscription_not_found"}
    assert _counts() == (0, 0, 0)


def test_get_on_subscribe_is_405(tenant_client, deployment):
    response = tenant_client.get(subscribe_url(deployment))
    assert response.status_code == 405
    assert response.json() == {"error": "method_not_allowed"}


def test_services_treat_another_tenants_deployment_as_missing(
    tenant_identity, subscribed_foreign, foreign_deployment
):
    # The API's scope answers 404 before any service runs; a caller that reaches
    # the services directly with a tenant actor gets the same answer, not a 403.
    from arcadia_cloud.actors import Actor
    from arcadia_cloud.errors import NotFound
    from subscriptions.services import attach_addon, change_plan_version

    intruder = Actor.for_identity(tenant_identity)
    with pytest.raises(NotFound):
        create_subscription(deployment_id=foreign_deployment.pk, plan_code="team", actor=intruder)
    with pytest.raises(NotFound):
        attach_addon(subscription=subscribed_foreign, addon_code="storage_50gb", actor=intruder)
    with pytest.raises(NotFound):
        change_plan_version(subscription=subscribed_foreign, plan_code="team", actor=intruder)
    assert not SubscriptionAddon.objects.exists()
    assert not PlanChange.objects.exists()
    assert Subscription.objects.get().plan_version.plan.code == "studio"
