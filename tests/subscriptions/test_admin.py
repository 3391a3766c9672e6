"""Subscriptions admin: snapshots and plan changes read-only, the change-plan
page through the service."""

import pytest
from django.contrib.auth.models import Permission

from catalog.models import PlanVersion
from deployments.services import create_subscription
from subscriptions.models import PlanChange, Subscription, SubscriptionAddon
from subscriptions.services import change_plan_version
from tests.factories import IdentityFactory

pytestmark = pytest.mark.usefixtures("seeded")


@pytest.fixture
def subscription(deployment, system_actor):
    return create_subscription(
        deployment_id=deployment.pk,
        plan_code="studio",
        addon_codes=["storage_50gb"],
        actor=system_actor,
    )


def test_subscription_pages_load_read_only(superuser_client, subscription, system_actor):
    change_plan_version(subscription=subscription, plan_code="team", actor=system_actor)
    assert superuser_client.get("/admin/subscriptions/subscription/").status_code == 200
    assert superuser_client.get("/admin/subscriptions/subscription/?q=shop").status_code == 200
    page = superuser_client.get(f"/admin/subscriptions/subscription/{subscription.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "storage_50gb" in html
    assert "750" in html
    assert 'name="addons-0-price_cents"' not in html
    assert 'name="status"' not in html
    assert superuser_client.get("/admin/subscriptions/planchange/").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/admin/subscriptions/subscription/add/",
        "/admin/subscriptions/planchange/add/",
    ],
)
def test_no_add_through_admin(superuser_client, path):
    assert superuser_client.get(path).status_code == 403


def test_no_delete_or_edit_of_records(superuser_client, subscription, system_actor):
    change_plan_version(subscription=subscription, plan_code="team", actor=system_actor)
    change = PlanChange.objects.get()
    assert (
        superuser_client.get(
            f"/admin/subscriptions/subscription/{subscription.pk}/delete/"
        ).status_code
        == 403
    )
    assert (
        superuser_client.get(f"/admin/subscriptions/planchange/{change.pk}/delete/").status_code
        == 403
    )
    superuser_client.post(
        f"/admin/subscriptions/planchange/{change.pk}/change/", {"actor": "someone else"}
    )
    assert PlanChange.objects.get().actor == "system:tests"
    assert SubscriptionAddon.objects.get().price_cents == 750


def change_plan_page(subscription) -> str:
    return f"/admin/subscriptions/subscription/{subscription.pk}/change-plan/"


def test_change_plan_page_previews_then_calls_the_service(
    superuser_client, superuser, subscription
):
    enterprise = PlanVersion.objects.get(plan__code="enterprise")
    detail = superuser_client.get(f"/admin/subscriptions/subscription/{subscription.pk}/change/")
    assert 'id="change-plan-button"' in detail.content.decode()
    # the page first shows a form, then a preview; nothing is written before "apply"
    page = superuser_client.get(change_plan_page(subscription))
    assert page.status_code == 200
    assert 'name="target"' in page.content.decode()
    choice = {"target": str(enterprise.pk), "effective": "now", "reason": "Upgrade requested"}
    preview = superuser_client.post(change_plan_page(subscription), {**choice, "preview": "1"})
    assert preview.status_code == 200
    assert preview.context["preview"]["target"] == enterprise
    assert PlanChange.objects.count() == 0
    # applying moves the subscription and records who did it
    response = superuser_client.post(
        change_plan_page(subscription), {**choice, "apply": "1"}, HTTP_X_REQUEST_ID="admin-req-1"
    )
    assert response.status_code == 302
    assert Subscription.objects.get().plan_version_id == enterprise.id
    change = PlanChange.objects.get()
    assert (change.to_version_id, change.actor, change.request_id) == (
        enterprise.id,
        superuser.email,
        "admin-req-1",
    )


def test_change_plan_page_needs_the_permission(client, tenant, subscription):
    viewer = IdentityFactory(email="viewer@arcadia.example", tenant=tenant, is_staff=True)

    viewer.user_permissions.add(Permission.objects.get(codename="view_subscription"))
    client.force_login(viewer)
    page = client.get(f"/admin/subscriptions/subscription/{subscription.pk}/change/")
    assert page.status_code == 200
    assert "change-plan-button" not in page.content.decode()
    assert client.get(change_plan_page(subscription)).status_code == 403
    team = PlanVersion.objects.get(plan__code="team")
    response = client.post(
        change_plan_page(subscription),
        {"target": str(team.pk), "effective": "now", "reason": "x", "apply": "1"},
    )
    assert response.status_code == 403
    assert PlanChange.objects.count() == 0
