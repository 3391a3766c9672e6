"""Every fact of the product appears in the feed exactly once, written with the
fact, carrying the object's state after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from arcadia_cloud.actors import Actor
from billing.clock import run_billing_cycle
from deployments.batch import BatchSelection, transition_batch
from deployments.models import BillingOverrideChange, Deployment, DeploymentEvent
from deployments.services import create_subscription, set_billing_override
from deployments.shapes import event_view
from deployments.transitions import transition_state
from subscriptions.models import PlanChange, Subscription, SubscriptionAddon
from subscriptions.services import attach_addon, change_plan_version, detach_addon
from tests.batch.conftest import make_deployments
from tests.factories import SYSTEM_ACTOR, make_deployment
from tests.feed.conftest import read_all

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded")]


def _events(deployment=None, type_=None) -> list:
    events = read_all()
    if deployment is not None:
        events = [e for e in events if e.deployment_id == deployment.pk]
    if type_ is not None:
        events = [e for e in events if e.type == type_]
    return events


def test_a_deployments_life_in_the_feed(tenant, tenant_identity, platform_admin):
    tenant_actor = Actor.for_identity(tenant_identity, request_id="req-1")
    operator = Actor.for_identity(platform_admin, request_id="req-2")
    deployment = make_deployment(tenant, slug="shop", actor=tenant_actor)
    create_subscription(
        deployment_id=deployment.pk,
        plan_code="studio",
        addon_codes=["storage_50gb"],
        actor=tenant_actor,
    )
    subscription = Subscription.objects.get(deployment=deployment)
    line = attach_addon(subscription=subscription, addon_code="seats_5", actor=tenant_actor)
    detach_addon(subscription=subscription, line_id=line.pk, actor=tenant_actor)
    change_plan_version(subscription=subscription, plan_code="team", actor=operator)
    transition_state(
        deployment_id=deployment.pk, to_state="paused", actor=tenant_actor, reason="holiday"
    )
    set_billing_override(
        deployment_id=deployment.pk, suspended=True, actor=operator, reason="quarterly"
    )

    events = _events(deployment)
    assert [e.type for e in events] == [
        "deployment.created",
        "subscription.created",
        "subscription.addon_attached",
        "subscription.addon_attached",
        "subscription.addon_detached",
        "subscription.plan_changed",
        "deployment.transitioned",
        "deployment.override_changed",
    ]
    assert {e.tenant_id for e in events} == {tenant.id}
    created, sub_created, attached_initial, attached, detached, changed, paused, override = events
    deployment.refresh_from_db()
    # each carries the object after the fact, who did it and the request id
    assert created.data["deployment"]["state"] == "active"
    assert created.data["actor"] == "owner@acme.example"
    assert paused.data | {"deployment": None} == {
        "from_state": "active",
        "to_state": "paused",
        "actor": "owner@acme.example",
        "reason": "holiday",
        "notes": "",
        "request_id": "req-1",
        "deployment": None,
    }
    assert paused.request_id == "req-1"
    assert paused.data["deployment"]["state"] == "paused"
    assert override.data["deployment"] == event_view(deployment)
    assert override.data["billing_action_suspended"] is True
    assert sub_created.data["subscription"]["plan_code"] == "studio"
    assert attached_initial.data["addon_line"]["code"] == "storage_50gb"
    assert attached.data["addon_line"]["addon_line_id"] == line.pk
    assert detached.data["addon_line"]["detached_at"] is not None
    assert [a["code"] for a in detached.data["subscription"]["addons"]] == ["storage_50gb"]
    assert (changed.data["from_version"]["plan_code"], changed.data["to_version"]["plan_code"]) == (
        "studio",
        "team",
    )
    assert changed.data["subscription"]["plan_code"] == "team"
    # exactly once: one feed event per audit row of each kind
    assert len(_events(deployment, "deployment.transitioned")) + 1 == (
        DeploymentEvent.objects.filter(deployment=deployment).count()
    )
    assert len(_events(deployment, "deployment.override_changed")) == (
        BillingOverrideChange.objects.filter(deployment=deployment).count()
    )
    assert len(_events(deployment, "subscription.plan_changed")) == PlanChange.objects.count()
    assert len(_events(deployment, "subscription.addon_attached")) == (
        SubscriptionAddon.objects.count()
    )


def test_a_refused_fact_leaves_no_event(tenant_client, deployment):
    before = len(read_all())
    response = tenant_client.post(
        f"/api/v1/deployments/{deployment.pk}/transition", {"to_state": "archived"}, format="json"
    )
    assert response.status_code == 422
    assert len(read_all()) == before


def test_a_closed_period_names_its_statement_and_total(tenant):
    deployment = make_deployment(tenant, at=datetime(2026, 1, 1, tzinfo=UTC))
    create_subscription(
        deployment_id=deployment.pk,
        plan_code="studio",
        actor=SYSTEM_ACTOR,
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    run_billing_cycle(as_of=datetime(2026, 3, 1, tzinfo=UTC))
    closed = _events(deployment, "subscription.period_closed")
    statements = list(deployment.statements.order_by("id"))
    assert [e.data["statement"]["id"] for e in closed] == [s.pk for s in statements]
    assert [e.data["statement"]["total_cents"] for e in closed] == [
        s.total_cents for s in statements
    ]
    assert [e.data["statement"]["period_start"] for e in closed] == ["2026-01-01", "2026-02-01"]


def test_a_batch_writes_one_event_per_row_with_the_same_shape_as_one_move(tenant):
    # Rows that exercise every rendering case: null and set template fields,
    # timestamps with and without microseconds, the override on.
    rows = make_deployments(tenant, 6, state="past_due")
    whole_second = timezone.now().replace(microsecond=0) - timedelta(days=3)
    Deployment.objects.filter(pk=rows[0].pk).update(
        template_code="wordpress", template_version="6.5", created_at=whole_second
    )
    result = transition_batch(
        selection=BatchSelection(from_state="past_due", to_state="suspended", tenant_id=tenant.pk),
        actor=Actor.system("system:dunning", request_id="run-x"),
        reason="unpaid",
        batch_size=4,
    )
    assert result.moved == 6
    events = _events(type_="deployment.transitioned")
    assert len(events) == 6
    by_id = {d.pk: d for d in Deployment.objects.filter(tenant=tenant)}
    for event in events:
        moved = by_id[event.deployment_id]
        assert event.data == {
            "from_state": "past_due",
            "to_state": "suspended",
            "actor": "system:dunning",
            "reason": "unpaid",
            "notes": "",
            "request_id": "run-x",
            "deployment": event_view(moved),
        }, connection.vendor
        assert event.tenant_id == tenant.id
        assert event.request_id == "run-x"
