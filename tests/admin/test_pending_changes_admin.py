"""Scheduled changes on the deployment and subscription pages, withdrawn with a
reason through the service the API uses; support sees no button and the
server refuses its POST."""

from __future__ import annotations

import pytest

from arcadia_cloud.actors import Actor
from deployments.scheduling import cancel_subscription, schedule_plan_change
from subscriptions.models import PendingChange
from tests.admin.conftest import subscribe

TENANT_OWNER = "owner@acme.example"


@pytest.fixture
def scheduled(catalog_items, shop):
    """shop on studio with a cancellation and a move to team scheduled."""
    subscribe(shop, "studio")
    actor = Actor(kind="operator", label=TENANT_OWNER)
    cancel = cancel_subscription(
        deployment_id=shop.pk, actor=actor, at_period_end=True, reason="Budget cut"
    )
    plan = schedule_plan_change(
        deployment_id=shop.pk, plan_code="team", actor=actor, reason="Growing"
    )
    return {"cancel": cancel, "plan": plan}


def withdraw_url(shop, change, back=""):
    url = f"/admin/deployments/deployment/{shop.pk}/pending-changes/{change.pk}/withdraw/"
    return f"{url}?next={back}" if back else url


def test_deployment_page_lists_pending_changes_with_withdraw(billing_client, shop, scheduled):
    body = billing_client.get(f"/admin/deployments/deployment/{shop.pk}/change/").content.decode()
    block = body[body.index('id="pending-changes"') : body.index('id="timeline-module"')]
    assert "Cancellation" in block
    assert "Plan change to team v1" in block
    assert "Budget cut" in block
    assert "Growing" in block
    assert TENANT_OWNER in block
    assert block.count("withdraw-button") == 2
    assert withdraw_url(shop, scheduled["cancel"]) in block


def test_subscription_page_lists_pending_changes_with_withdraw(billing_client, shop, scheduled):
    url = f"/admin/subscriptions/subscription/{shop.subscription.pk}/change/"
    body = billing_client.get(url).content.decode()
    block = body[body.index('id="pending-changes"') :]
    assert "Cancellation" in block
    assert "Plan change to team v1" in block
    assert block.count("withdraw-button") == 2
    assert f"pending-changes/{scheduled['plan'].pk}/withdraw/?next=" in block


def test_withdraw_needs_a_reason_then_withdraws_through_the_service(
    billing_client, shop, scheduled
):
    change = scheduled["cancel"]
    back = f"/admin/subscriptions/subscription/{shop.subscription.pk}/change/"
    page = billing_client.get(withdraw_url(shop, change, back))
    assert page.status_code == 200
    assert "Cancellation" in page.content.decode()
    refused = billing_client.post(withdraw_url(shop, change, back), {"reason": ""})
    assert refused.status_code == 200
    assert refused.context["form"].errors["reason"]
    change.refresh_from_db()
    assert change.withdrawn_at is None

    done = billing_client.post(withdraw_url(shop, change, back), {"reason": "Customer stays"})
    assert done.status_code == 302
    assert done["Location"] == back  # back where the operator came from
    change.refresh_from_db()
    assert change.withdrawn_at is not None
    assert change.withdrawn_by == "billing@arcadia.example"
    assert change.withdrawn_reason == "Customer stays"
    # the other one is untouched, and the page no longer offers the withdrawn one
    assert (
        PendingChange.objects.filter(PendingChange.PENDING, subscription=shop.subscription)[
            :2
        ].count()
        == 1
    )
    body = billing_client.get(f"/admin/deployments/deployment/{shop.pk}/change/").content.decode()
    assert withdraw_url(shop, change) not in body
    timeline = body[body.index('id="timeline"') :]
    assert "Withdrawn: the scheduled cancellation" in timeline
    assert "Customer stays" in timeline


def test_withdraw_refuses_an_offsite_next(billing_client, shop, scheduled):
    change = scheduled["plan"]
    done = billing_client.post(
        withdraw_url(shop, change, "https://evil.example/"), {"reason": "ok"}
    )
    assert done["Location"] == f"/admin/deployments/deployment/{shop.pk}/change/"


def test_a_withdrawn_change_cannot_be_withdrawn_twice(billing_client, shop, scheduled):
    change = scheduled["plan"]
    billing_client.post(withdraw_url(shop, change), {"reason": "first"})
    again = billing_client.post(withdraw_url(shop, change), {"reason": "second"}, follow=True)
    assert "Not withdrawn" in again.content.decode()
    change.refresh_from_db()
    assert change.withdrawn_reason == "first"


def test_support_sees_no_withdraw_and_the_server_refuses(support_client, shop, scheduled):
    body = support_client.get(f"/admin/deployments/deployment/{shop.pk}/change/").content.decode()
    assert "Budget cut" in body  # sees the change
    assert "withdraw-button" not in body
    url = f"/admin/subscriptions/subscription/{shop.subscription.pk}/change/"
    assert "withdraw-button" not in support_client.get(url).content.decode()
    for change in scheduled.values():
        assert support_client.get(withdraw_url(shop, change)).status_code == 403
        assert support_client.post(withdraw_url(shop, change), {"reason": "x"}).status_code == 403
        change.refresh_from_db()
        assert change.withdrawn_at is None


def test_a_change_of_another_deployment_is_not_found(billing_client, shop, scheduled, tenant_a):
    from tests.factories import make_deployment

    other = make_deployment(tenant_a, slug="other")
    url = withdraw_url(other, scheduled["cancel"])
    assert billing_client.post(url, {"reason": "x"}).status_code == 404


def test_change_plan_button_renders_only_when_its_page_exists(billing_client, shop, scheduled):
    from django.urls import NoReverseMatch, reverse

    body = billing_client.get(f"/admin/deployments/deployment/{shop.pk}/change/").content.decode()
    try:
        url = reverse("admin:deployments_deployment_change_plan", args=[shop.pk])
    except NoReverseMatch:
        assert 'id="change-plan-button"' not in body
    else:
        assert f'id="change-plan-button" href="{url}"' in body
