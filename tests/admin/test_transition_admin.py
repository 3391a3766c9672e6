"""Transitions through the admin: one form per move, the service does the work,
the event records the staff user, the reason and the request id."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from deployments.models import DeploymentEvent
from deployments.transitions import transition_state
from tests.admin.conftest import SYSTEM
from tests.deployments.helpers import assert_one_new_event
from tests.factories import put_in_state


def transition_url(deployment, to_state: str) -> str:
    return f"/admin/deployments/deployment/{deployment.pk}/transition/{to_state}/"


def change_url(deployment) -> str:
    return f"/admin/deployments/deployment/{deployment.pk}/change/"


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_transition_writes_event_with_staff_email_reason_and_request_id(billing_client, shop):
    # given: an active deployment with its creation event
    before = DeploymentEvent.objects.filter(deployment=shop).count()
    # when: the billing operator moves it to past_due with a reason
    response = billing_client.post(
        transition_url(shop, "past_due"),
        {"reason": "Card declined twice", "notes": "Ticket #4411", "expected_state": "active"},
        HTTP_X_REQUEST_ID="req-console-1",
    )
    # then: back on the deployment page, moved, one event with who/why/request id
    assert response.status_code == 302
    assert response["Location"] == change_url(shop)
    shop.refresh_from_db()
    assert shop.state == "past_due"
    assert_one_new_event(
        shop,
        before=before,
        from_state="active",
        to_state="past_due",
        actor="billing@arcadia.example",
        reason="Card declined twice",
        notes="Ticket #4411",
        request_id="req-console-1",
        occurred_at=shop.state_since,
    )


def test_the_event_shows_on_the_timeline(billing_client, shop):
    billing_client.post(
        transition_url(shop, "paused"),
        {"reason": "Owner asked by phone", "expected_state": "active"},
    )
    body = billing_client.get(change_url(shop)).content.decode()
    timeline = body[body.index('id="timeline"') :]
    # newest first: the pause comes before the creation event
    assert timeline.index("Owner asked by phone") < timeline.index("created")
    assert "billing@arcadia.example" in timeline


def test_form_asks_for_a_reason(billing_client, shop):
    response = billing_client.get(transition_url(shop, "suspended"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="reason"' in body
    assert 'name="notes"' in body
    assert 'name="expected_state" value="active"' in body


def test_missing_reason_changes_nothing(billing_client, shop):
    response = billing_client.post(
        transition_url(shop, "suspended"), {"reason": "  ", "expected_state": "active"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    shop.refresh_from_db()
    assert shop.state == "active"
    assert DeploymentEvent.objects.filter(deployment=shop).count() == 1


def test_stale_form_is_refused_as_a_conflict(billing_client, shop):
    # given: the operator opened the form while the deployment was active,
    # and meanwhile a batch job moved it
    transition_state(deployment_id=shop.pk, to_state="past_due", actor=SYSTEM)
    # when: the form is submitted
    response = billing_client.post(
        transition_url(shop, "paused"), {"reason": "late", "expected_state": "active"}
    )
    # then: nothing moved, the operator is told why
    assert response.status_code == 302
    shop.refresh_from_db()
    assert shop.state == "past_due"
    assert DeploymentEvent.objects.filter(deployment=shop).count() == 2
    assert any("expected active, found past_due" in m for m in messages_of(response))


def test_move_outside_the_map_is_refused(billing_client, shop):
    put_in_state(shop, "paused")
    response = billing_client.post(
        transition_url(shop, "archived"), {"reason": "tidy up", "expected_state": "paused"}
    )
    assert response.status_code == 302
    shop.refresh_from_db()
    assert shop.state == "paused"
    assert not DeploymentEvent.objects.filter(deployment=shop, to_state="archived").exists()
    assert any("not in the transitions map" in m for m in messages_of(response))
    # and the form itself is not offered for it
    response = billing_client.get(transition_url(shop, "archived"))
    assert response.status_code == 302


def test_buttons_are_the_moves_the_map_allows_an_operator(billing_client, shop):
    body = billing_client.get(change_url(shop)).content.decode()
    offered = {
        state
        for state in ("trial", "active", "past_due", "paused", "suspended", "cancelled", "archived")
        if f'data-to-state="{state}"' in body
    }
    assert offered == {"past_due", "paused", "suspended", "cancelled"}
    put_in_state(shop, "cancelled")
    body = billing_client.get(change_url(shop)).content.decode()
    assert 'data-to-state="archived"' in body
    assert body.count("transition-button") == 1


def test_unknown_deployment_is_404(billing_client, db):
    response = billing_client.get(
        "/admin/deployments/deployment/00000000-0000-0000-0000-000000000000/transition/paused/"
    )
    assert response.status_code == 404


@pytest.mark.parametrize("client_fixture", ["superuser_client", "billing_client"])
def test_superuser_and_billing_operator_may_transition(request, client_fixture, shop):
    client = request.getfixturevalue(client_fixture)
    response = client.post(
        transition_url(shop, "suspended"), {"reason": "Abuse", "expected_state": "active"}
    )
    assert response.status_code == 302
    shop.refresh_from_db()
    assert shop.state == "suspended"
