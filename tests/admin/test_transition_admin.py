"""Transitions through the admin: one form per move, the service does the work,
the event records the staff user, the reason and the request id."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.db import connection

from console import transitions as console
from deployments.models import Deployment, DeploymentEvent
from deployments.transitions import transition_state
from tests.admin.conftest import SYSTEM
from tests.deployments.helpers import assert_one_new_event
from tests.factories import make_deployment, put_in_state


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


# -- the bulk action -------------------------------------------------------------------


def bulk(client, deployments, **data):
    return client.post(
        "/admin/deployments/deployment/",
        {
            "action": "transition_selected",
            "_selected_action": [str(d.pk) for d in deployments],
            "index": "0",
            **data,
        },
    )


def test_bulk_action_asks_for_target_and_reason_first(billing_client, tenant_a):
    rows = [make_deployment(tenant_a) for _ in range(2)]
    response = bulk(billing_client, rows)
    assert response.status_code == 200
    form = response.context["form"]
    assert [c[0] for c in form.fields["to_state"].choices] == [
        "past_due",
        "paused",
        "suspended",
        "cancelled",
    ]
    assert Deployment.objects.filter(state="active").count() == 2


def test_bulk_action_reports_moved_skipped_failed(billing_client, tenant_a, monkeypatch):
    # given: three active deployments, one cancelled (paused is not a move from
    # cancelled: skipped), and one that a batch job moves while the action runs
    moved = [make_deployment(tenant_a, slug=f"ok-{i}") for i in range(3)]
    gone = make_deployment(tenant_a, slug="cancelled-one")
    put_in_state(gone, "cancelled")
    racing = make_deployment(tenant_a, slug="racing")
    real = console.transition_state

    def racing_service(**kwargs):
        if kwargs["deployment_id"] == racing.pk:
            real(deployment_id=racing.pk, to_state="past_due", actor=SYSTEM)
        return real(**kwargs)

    monkeypatch.setattr(console, "transition_state", racing_service)
    # when
    response = bulk(
        billing_client,
        [*moved, gone, racing],
        apply="1",
        to_state="paused",
        reason="Maintenance window",
        notes="",
    )
    # then
    assert response.status_code == 302
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "moved 3, skipped 1, failed 1" in text
    assert "racing: state_conflict" in text
    for deployment in moved:
        deployment.refresh_from_db()
        assert deployment.state == "paused"
        event = deployment.events.order_by("-id").first()
        assert (event.actor, event.reason) == ("billing@arcadia.example", "Maintenance window")
    gone.refresh_from_db()
    racing.refresh_from_db()
    assert gone.state == "cancelled"
    assert racing.state == "past_due"
    assert not DeploymentEvent.objects.filter(to_state="paused", deployment__in=[gone, racing])


def test_bulk_action_needs_a_reason(billing_client, tenant_a):
    rows = [make_deployment(tenant_a)]
    response = bulk(billing_client, rows, apply="1", to_state="paused", reason="")
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert Deployment.objects.get().state == "active"


@pytest.mark.parametrize("client_fixture", ["superuser_client", "billing_client"])
def test_superuser_and_billing_operator_may_transition(request, client_fixture, shop):
    client = request.getfixturevalue(client_fixture)
    response = client.post(
        transition_url(shop, "suspended"), {"reason": "Abuse", "expected_state": "active"}
    )
    assert response.status_code == 302
    shop.refresh_from_db()
    assert shop.state == "suspended"


def _bulk_queries(client, deployments) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = bulk(
            client, deployments, apply="1", to_state="paused", reason="window", notes=""
        )
    assert response.status_code == 302
    return len(ctx.captured_queries)


def test_bulk_action_costs_a_fixed_number_of_queries_per_deployment(billing_client, tenant_a):
    # The bulk action runs one transition_state per deployment (each its own
    # transaction), so its cost is linear by design: pin the per-deployment
    # part so nothing else creeps into the loop.
    #   per deployment on PostgreSQL: savepoint, lock + check + update (one
    #   statement), audit event + feed event (one statement), subscription
    #   follow, resources follow, release = 6; elsewhere the lock, the update
    #   and the two inserts are separate statements = 8
    three = [make_deployment(tenant_a, slug=f"three-{i}") for i in range(3)]
    nine = [make_deployment(tenant_a, slug=f"nine-{i}") for i in range(9)]
    per_deployment = (
        _bulk_queries(billing_client, nine) - _bulk_queries(billing_client, three)
    ) / 6
    assert per_deployment == (6 if connection.vendor == "postgresql" else 8), per_deployment
    assert Deployment.objects.filter(state="paused").count() == 12
