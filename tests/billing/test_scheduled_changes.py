"""Changes scheduled for the end of the period: requested over the API, shown on
the subscription, withdrawable, applied by the clock at the boundary with the
requester's authority, failed (not half-applied) when no longer possible."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from arcadia_cloud.actors import Actor
from billing.clock import run_billing_cycle
from billing.models import Statement
from catalog.services import create_plan_version, publish_plan_version
from deployments.models import Deployment, DeploymentEvent
from deployments.services import create_subscription
from deployments.transitions import transition_state
from feed.models import Event
from subscriptions.models import PendingChange, PlanChange, Subscription
from tests.factories import SYSTEM_ACTOR, make_deployment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded")]

MAY = datetime(2026, 5, 1, tzinfo=UTC)
JUNE = datetime(2026, 6, 1, tzinfo=UTC)
JULY = datetime(2026, 7, 1, tzinfo=UTC)
OPERATOR = Actor(kind="operator", label="ops@arcadia.example")


@pytest.fixture
def subscribed(tenant):
    """acme's deployment, subscribed to studio since the start of May."""
    deployment = make_deployment(tenant, slug="shop", at=MAY)
    create_subscription(deployment_id=deployment.pk, plan_code="studio", actor=SYSTEM_ACTOR, at=MAY)
    return deployment


def _url(deployment, tail: str) -> str:
    return f"/api/v1/deployments/{deployment.pk}/subscription/{tail}"


def _schedule(client, deployment, plan: str, **extra):
    body = {"plan_code": plan, "effective": "period_end", **extra}
    return client.post(_url(deployment, "change-plan"), body, format="json")


def _cancel(client, deployment, at_period_end: bool):
    return client.post(_url(deployment, "cancel"), {"at_period_end": at_period_end}, format="json")


def _show(client, deployment) -> dict:
    return client.get(f"/api/v1/deployments/{deployment.pk}").json()["subscription"]


def test_a_cancel_at_period_end_waits_for_the_boundary(tenant_client, subscribed):
    response = tenant_client.post(
        _url(subscribed, "cancel"), {"at_period_end": True, "reason": "moving on"}, format="json"
    )
    assert response.status_code == 200, response.content
    [pending] = response.json()["subscription"]["pending_changes"]
    assert (pending["kind"], pending["effective_at"], pending["requested_by"]) == (
        "cancel",
        "2026-06-01T00:00:00Z",
        "owner@acme.example",
    )
    assert _show(tenant_client, subscribed)["pending_changes"] == [pending]
    assert Deployment.objects.get(pk=subscribed.pk).state == "active"

    result = run_billing_cycle(as_of=JUNE)
    assert result.changes_applied == 1
    deployment = Deployment.objects.get(pk=subscribed.pk)
    assert (deployment.state, deployment.state_since) == ("cancelled", JUNE)
    event = DeploymentEvent.objects.filter(deployment=deployment).latest("id")
    # the requester's authority, and the notes say it was scheduled and by the clock
    assert event.actor == "owner@acme.example"
    assert "billing clock" in event.notes
    assert "Scheduled by owner@acme.example" in event.notes
    # May is billed whole, and nothing more after the cancellation
    [may] = Statement.objects.filter(deployment=deployment)
    assert may.total_cents == Subscription.objects.get().plan_version.price_cents
    assert run_billing_cycle(as_of=JULY).periods_closed == 0
    assert PendingChange.objects.get().applied_at is not None


def test_a_cancel_now_moves_the_deployment(tenant_client, subscribed):
    response = tenant_client.post(
        _url(subscribed, "cancel"), {"at_period_end": False}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["subscription"]["status"] == "cancelled"
    assert Deployment.objects.get(pk=subscribed.pk).state == "cancelled"


def test_a_scheduled_downgrade_bills_the_new_plan_from_the_next_period(tenant_client, subscribed):
    response = tenant_client.post(
        _url(subscribed, "change-plan"),
        {"plan_code": "hobby", "effective": "period_end"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()["subscription"]
    assert body["plan_code"] == "studio"  # not yet
    assert body["pending_changes"][0]["plan_code"] == "hobby"
    run_billing_cycle(as_of=JULY)
    change = PlanChange.objects.get()
    assert (change.changed_at, change.to_version.plan.code) == (JUNE, "hobby")
    may, june = Statement.objects.order_by("period_start")
    assert may.lines[0]["code"] == "studio"
    assert june.lines[0]["code"] == "hobby"
    assert june.total_cents == change.to_version.price_cents
    assert Event.objects.filter(type="subscription.plan_changed").count() == 1


def test_a_withdrawn_change_is_not_applied(tenant_client, subscribed):
    pending = tenant_client.post(
        _url(subscribed, "change-plan"),
        {"plan_code": "team", "effective": "period_end"},
        format="json",
    ).json()["subscription"]["pending_changes"][0]
    response = tenant_client.delete(_url(subscribed, f"pending-changes/{pending['id']}"))
    assert response.status_code == 200
    assert response.json()["subscription"]["pending_changes"] == []
    assert (
        tenant_client.delete(_url(subscribed, f"pending-changes/{pending['id']}")).status_code
        == 404
    )
    run_billing_cycle(as_of=JUNE)
    assert not PlanChange.objects.exists()
    assert Event.objects.filter(type="subscription.change_withdrawn").count() == 1


def test_a_new_request_replaces_the_pending_one(tenant_client, subscribed):
    for plan in ("team", "hobby"):
        tenant_client.post(
            _url(subscribed, "change-plan"),
            {"plan_code": plan, "effective": "period_end"},
            format="json",
        )
    assert [c["plan_code"] for c in _show(tenant_client, subscribed)["pending_changes"]] == [
        "hobby"
    ]
    old = PendingChange.objects.get(target_version__plan__code="team")
    assert old.withdrawn_reason == "replaced by a newer request"


def test_a_scheduled_cancel_wins_over_a_plan_change_at_the_same_boundary(tenant_client, subscribed):
    tenant_client.post(
        _url(subscribed, "change-plan"),
        {"plan_code": "team", "effective": "period_end"},
        format="json",
    )
    _cancel(tenant_client, subscribed, True)
    run_billing_cycle(as_of=JUNE)
    assert Deployment.objects.get(pk=subscribed.pk).state == "cancelled"
    assert not PlanChange.objects.exists()
    change = PendingChange.objects.get(kind="change_plan")
    assert change.withdrawn_reason == "superseded by the scheduled cancellation"


def test_a_change_that_became_impossible_fails_and_writes_nothing(tenant_client, subscribed):
    tenant_client.post(
        _url(subscribed, "change-plan"),
        {"plan_code": "team", "effective": "period_end"},
        format="json",
    )
    # meanwhile the deployment is cancelled: a plan change is no longer possible
    transition_state(deployment_id=subscribed.pk, to_state="cancelled", actor=OPERATOR)
    result = run_billing_cycle(as_of=JUNE)
    assert (result.changes_applied, result.changes_failed) == (0, 1)
    change = PendingChange.objects.get()
    assert change.failed_at is not None
    assert change.failure_reason.startswith("subscription_cancelled")
    assert not PlanChange.objects.exists()
    assert Subscription.objects.get().plan_version.plan.code == "studio"


def test_a_request_that_is_impossible_now_is_refused_now(tenant_client, subscribed):
    response = tenant_client.post(
        _url(subscribed, "change-plan"),
        {"plan_code": "studio", "effective": "period_end"},
        format="json",
    )
    assert response.status_code == 422
    assert response.json() == {"error": "plan_version_unchanged"}
    transition_state(deployment_id=subscribed.pk, to_state="suspended", actor=SYSTEM_ACTOR)
    # a tenant may cancel a suspended deployment; an archived one cannot be cancelled
    Deployment.objects.filter(pk=subscribed.pk).update(state="archived")
    response = tenant_client.post(
        _url(subscribed, "cancel"), {"at_period_end": True}, format="json"
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_transition"
    assert not PendingChange.objects.exists()


def test_another_tenants_subscription_is_404_on_every_scheduling_route(other_client, subscribed):
    for path, body in (
        ("cancel", {"at_period_end": True}),
        ("change-plan", {"plan_code": "team", "effective": "period_end"}),
    ):
        response = other_client.post(_url(subscribed, path), body, format="json")
        assert response.status_code == 404
    assert other_client.delete(_url(subscribed, "pending-changes/1")).status_code == 404
    assert not PendingChange.objects.exists()


def test_a_new_version_scheduled_for_period_end(tenant_client, subscribed):
    from catalog.models import Plan

    v2 = publish_plan_version(
        plan_version=create_plan_version(
            plan=Plan.objects.get(code="studio"), price_cents=5900, currency="USD"
        )
    )
    response = tenant_client.post(
        _url(subscribed, "change-plan"),
        {"plan_code": "studio", "version": 2, "effective": "period_end"},
        format="json",
    )
    assert response.status_code == 200
    run_billing_cycle(as_of=JULY)
    june = Statement.objects.get(period_start=date(2026, 6, 1))
    assert june.total_cents == v2.price_cents
