"""The database refuses UPDATE and DELETE on audit rows: through the ORM, raw SQL
and the admin; every event carries actor, reason, request id and UTC time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.test import RequestFactory

from arcadia_cloud.actors import Actor
from deployments.models import BillingOverrideChange, Deployment, DeploymentEvent
from deployments.services import create_subscription, set_billing_override
from subscriptions.models import PlanChange
from subscriptions.services import change_plan_version
from tests.factories import SYSTEM_ACTOR, PlatformAdminFactory, make_deployment
from tests.reliability.conftest import post_json

pytestmark = pytest.mark.django_db


def _refused():
    """Expect the database to refuse, without breaking the test's transaction."""

    class _Ctx:
        def __enter__(self):
            self.raises = pytest.raises(IntegrityError, match="append-only")
            self.raises.__enter__()
            self.atomic = transaction.atomic()
            self.atomic.__enter__()

        def __exit__(self, *exc):
            self.atomic.__exit__(*exc)
            return self.raises.__exit__(*exc)

    return _Ctx()


@pytest.fixture
def event(tenant):
    return make_deployment(tenant, slug="audited").events.get()


@pytest.fixture
def override_change(tenant):
    deployment = make_deployment(tenant, slug="overridden")
    set_billing_override(
        deployment_id=deployment.pk,
        suspended=True,
        actor=Actor.for_staff(PlatformAdminFactory()),
        reason="disputed invoice",
    )
    return BillingOverrideChange.objects.get(deployment=deployment)


def test_orm_queryset_update_of_an_event_is_refused(event):
    with _refused():
        DeploymentEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    event.refresh_from_db()
    assert event.reason == "created"


def test_orm_save_of_an_existing_event_is_refused(event):
    event.to_state = "archived"
    with _refused():
        event.save()
    assert DeploymentEvent.objects.get(pk=event.pk).to_state == "active"


def test_orm_delete_of_an_event_is_refused(event):
    with _refused():
        DeploymentEvent.objects.filter(pk=event.pk).delete()
    with _refused():
        event.delete()
    assert DeploymentEvent.objects.filter(pk=event.pk).exists()


def test_raw_sql_update_and_delete_of_an_event_are_refused(event):
    with _refused(), connection.cursor() as cursor:
        cursor.execute("UPDATE deployments_deploymentevent SET actor = 'nobody'")
    with _refused(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM deployments_deploymentevent")
    assert DeploymentEvent.objects.get(pk=event.pk).actor == "system:tests"


def test_override_audit_rows_are_append_only(override_change):
    with _refused():
        BillingOverrideChange.objects.filter(pk=override_change.pk).update(value=False)
    with _refused():
        override_change.delete()
    with _refused(), connection.cursor() as cursor:
        cursor.execute("UPDATE deployments_billingoverridechange SET reason = 'none'")
    with _refused(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM deployments_billingoverridechange")
    override_change.refresh_from_db()
    assert (override_change.value, override_change.reason) == (True, "disputed invoice")


def test_appending_still_works(event, deployment):
    # The service keeps appending: a transition adds a row next to the old ones.
    from deployments.transitions import transition_state

    transition_state(deployment_id=deployment.pk, to_state="suspended", actor=Actor.system("t"))
    assert deployment.events.count() == 2


def test_a_deployment_with_events_cannot_be_deleted(event):
    with pytest.raises(ProtectedError):
        event.deployment.delete()
    assert Deployment.objects.filter(pk=event.deployment_id).exists()


@pytest.mark.django_db(transaction=True)
def test_flush_still_empties_the_database_and_keeps_the_guard(event, tenant):
    # (The teardown of this test flushes once more, with audit rows present.)
    call_command("flush", interactive=False, verbosity=0)
    assert DeploymentEvent.objects.count() == 0
    # The guard is back for the rows written afterwards.
    from tests.factories import TenantFactory

    fresh = make_deployment(TenantFactory(slug="after-flush"), slug="fresh").events.get()
    with _refused():
        DeploymentEvent.objects.filter(pk=fresh.pk).update(reason="x")


@pytest.fixture
def plan_change(tenant):
    call_command("seed_catalog", verbosity=0)
    deployment = make_deployment(tenant, slug="replanned")
    actor = SYSTEM_ACTOR
    subscription = create_subscription(deployment_id=deployment.pk, plan_code="studio", actor=actor)
    change_plan_version(subscription=subscription, plan_code="team", actor=actor)
    return PlanChange.objects.get(subscription=subscription)


def test_plan_change_records_are_append_only(plan_change):
    with _refused():
        PlanChange.objects.filter(pk=plan_change.pk).update(actor="someone else")
    plan_change.to_version_id = plan_change.from_version_id
    with _refused():
        plan_change.save()
    with _refused():
        plan_change.delete()
    with _refused(), connection.cursor() as cursor:
        cursor.execute("UPDATE subscriptions_planchange SET request_id = 'forged'")
    with _refused(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM subscriptions_planchange")
    assert PlanChange.objects.get(pk=plan_change.pk).actor == "system:tests"


def test_admin_grants_no_change_or_delete_on_audit_rows(platform_admin):
    """Neither an audit model's own admin nor an inline showing audit rows on
    another admin page lets even a superuser change or delete them."""
    request = RequestFactory().get("/admin/")
    request.user = platform_admin
    platform_admin.is_superuser = True
    audit_models = (DeploymentEvent, BillingOverrideChange, PlanChange)
    checked = []
    for model, model_admin in admin.site._registry.items():
        if model in audit_models:
            checked.append(model_admin)
        for inline_class in model_admin.inlines:
            if inline_class.model in audit_models:
                checked.append(inline_class(model, admin.site))
    # every audit model is shown somewhere in the admin, so every one is checked
    assert {getattr(shown, "model", None) for shown in checked} == set(audit_models)
    for shown in checked:
        assert not shown.has_change_permission(request), shown
        assert not shown.has_delete_permission(request), shown
        assert (
            not shown.has_add_permission(request, None)
            if hasattr(shown, "parent_model")
            else not shown.has_add_permission(request)
        ), shown


def test_api_events_carry_actor_reason_request_id_and_utc_time(tenant_client, deployment):
    response = post_json(
        tenant_client,
        f"/api/v1/deployments/{deployment.pk}/transition",
        {"to_state": "paused", "reason": "holiday", "notes": "back in May"},
        HTTP_X_REQUEST_ID="req-pause-1",
    )
    assert response.status_code == 200
    event = deployment.events.latest("id")
    assert (event.actor, event.reason, event.notes, event.request_id) == (
        "owner@acme.example",
        "holiday",
        "back in May",
        "req-pause-1",
    )
    assert event.occurred_at.utcoffset().total_seconds() == 0
    assert event.occurred_at.tzinfo is not None
    shown = tenant_client.get(f"/api/v1/deployments/{deployment.pk}/events").json()
    assert shown["events"][-1]["occurred_at"].endswith("Z")
    assert shown["events"][-1]["request_id"] == "req-pause-1"


def test_creation_event_through_the_api_carries_the_request_id(tenant_client):
    response = post_json(
        tenant_client,
        "/api/v1/deployments",
        {"slug": "web", "display_name": "Web", "region": "us-east-1"},
        HTTP_X_REQUEST_ID="req-create-1",
    )
    assert response.status_code == 201, response.content
    assert response["X-Request-Id"] == "req-create-1"
    event = DeploymentEvent.objects.get(deployment_id=response.json()["deployment"]["id"])
    assert (event.from_state, event.to_state, event.actor, event.reason, event.request_id) == (
        None,
        "active",
        "owner@acme.example",
        "created",
        "req-create-1",
    )
    assert event.occurred_at.utcoffset() == timedelta(0)


def test_system_events_carry_a_run_id_shared_by_the_run(tenant):
    from deployments.transitions import transition_state

    run = Actor.system("system:dunning")
    first = make_deployment(tenant, slug="dun-1")
    second = make_deployment(tenant, slug="dun-2")
    for deployment in (first, second):
        transition_state(deployment_id=deployment.pk, to_state="past_due", actor=run)
    ids = set(
        DeploymentEvent.objects.filter(to_state="past_due").values_list("request_id", flat=True)
    )
    assert ids == {run.request_id}
    assert run.request_id.startswith("run-")
    assert Actor.system("system:dunning").request_id != run.request_id
    assert Actor.system("x", request_id="cron-7").request_id == "cron-7"
