"""Operator groups and what each may do in the console."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from deployments.models import BillingOverrideChange, DeploymentEvent
from deployments.operators import BILLING_OPERATOR, SUPPORT, ensure_operator_groups
from tests.conftest import logged_in

CHANGELIST = "/admin/deployments/deployment/"


def perms_of(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


@pytest.mark.django_db
def test_groups_exist_after_migrate_with_their_permissions():
    billing, support = perms_of(BILLING_OPERATOR), perms_of(SUPPORT)
    views = {
        "deployments.view_deployment",
        "deployments.view_deploymentevent",
        "deployments.view_billingoverridechange",
        "deployments.view_cloudresource",
        "subscriptions.view_subscription",
        "subscriptions.view_subscriptionaddon",
        "subscriptions.view_planchange",
        "subscriptions.view_pendingchange",
        "subscriptions.view_trialgrant",
        "catalog.view_plan",
        "catalog.view_planversion",
        "catalog.view_addon",
        "arcadia_cloud.view_tenant",
        "billing.view_statement",
        "webhooks.view_webhookendpoint",
        "webhooks.view_delivery",
    }
    assert support == views
    assert billing == views | {
        "deployments.transition_deployment",
        "deployments.override_billing_action",
        "subscriptions.change_plan_subscription",
        "webhooks.retry_delivery",
    }
    # none of the generic permissions that edit, add or delete rows directly
    generic = {
        p for p in billing if p.split(".")[1].split("_")[0] in {"add", "change", "delete"}
    } - {"subscriptions.change_plan_subscription"}
    assert not generic


@pytest.mark.django_db
def test_setup_command_is_idempotent_and_resets_hand_made_changes():
    support = Group.objects.get(name=SUPPORT)
    support.permissions.add(Permission.objects.get(codename="transition_deployment"))
    out = StringIO()
    call_command("setup_operator_groups", stdout=out)
    call_command("setup_operator_groups", stdout=out)
    assert Group.objects.filter(name__in=[BILLING_OPERATOR, SUPPORT]).count() == 2
    assert "deployments.transition_deployment" not in perms_of(SUPPORT)
    assert "billing operator: 20 permissions" in out.getvalue()


@pytest.mark.django_db
def test_groups_are_recreated_when_missing():
    Group.objects.all().delete()
    counts = ensure_operator_groups()
    assert counts == {BILLING_OPERATOR: 20, SUPPORT: 16}


def test_support_sees_the_page_without_transition_or_override_buttons(support_client, shop):
    response = support_client.get(f"/admin/deployments/deployment/{shop.pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "transition-button" not in body
    assert 'id="override-button"' not in body
    assert "Read-only" in body
    assert 'id="timeline"' in body


def test_billing_operator_sees_buttons(billing_client, shop):
    body = billing_client.get(f"/admin/deployments/deployment/{shop.pk}/change/").content.decode()
    assert "transition-button" in body
    assert 'id="override-button"' in body


@pytest.mark.parametrize("method", ["get", "post"])
def test_support_gets_403_on_forged_transition_and_override_urls(support_client, shop, method):
    data = {"reason": "forged", "expected_state": "active", "suspended": "on"}
    for url in (
        f"/admin/deployments/deployment/{shop.pk}/transition/paused/",
        f"/admin/deployments/deployment/{shop.pk}/override/",
    ):
        response = getattr(support_client, method)(url, data)
        assert response.status_code == 403, url
    shop.refresh_from_db()
    assert shop.state == "active"
    assert not shop.billing_action_suspended
    assert DeploymentEvent.objects.filter(deployment=shop).count() == 1
    assert not BillingOverrideChange.objects.exists()


def test_support_has_no_bulk_action_and_a_forged_one_does_nothing(support_client, shop):
    response = support_client.get(CHANGELIST)
    assert response.status_code == 200
    assert "transition_selected" not in response.content.decode()
    response = support_client.post(
        CHANGELIST,
        {
            "action": "transition_selected",
            "_selected_action": [str(shop.pk)],
            "index": "0",
            "apply": "1",
            "to_state": "paused",
            "reason": "forged",
        },
    )
    shop.refresh_from_db()
    assert shop.state == "active"
    assert DeploymentEvent.objects.filter(deployment=shop).count() == 1


def test_staff_without_a_group_is_refused(groupless_staff, shop):
    client = logged_in(groupless_staff)
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(f"/admin/deployments/deployment/{shop.pk}/change/").status_code == 403
    assert client.get("/admin/dashboard/").status_code == 403
    response = client.post(
        f"/admin/deployments/deployment/{shop.pk}/transition/paused/",
        {"reason": "x", "expected_state": "active"},
    )
    assert response.status_code == 403


def test_anonymous_is_sent_to_login(client, shop):
    for url in (
        "/admin/dashboard/",
        f"/admin/deployments/deployment/{shop.pk}/transition/paused/",
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_nobody_adds_changes_or_deletes_deployments_in_the_admin(superuser_client, shop):
    base = "/admin/deployments/deployment/"
    assert superuser_client.get(f"{base}add/").status_code == 403
    assert superuser_client.get(f"{base}{shop.pk}/delete/").status_code == 403
    response = superuser_client.post(f"{base}{shop.pk}/change/", {"display_name": "Renamed"})
    assert response.status_code == 403
    shop.refresh_from_db()
    assert shop.display_name == "Acme Shop"
