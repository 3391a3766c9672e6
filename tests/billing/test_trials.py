"""Trials: entered by creating a deployment with a plan that offers one, once per
tenant and plan; ended by the billing clock per the plan version's behaviour."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from arcadia_cloud.actors import Actor
from billing.clock import run_billing_cycle
from billing.models import Statement
from deployments.models import Deployment, DeploymentEvent
from deployments.services import create_deployment, set_billing_override
from feed.models import Event
from subscriptions.models import Subscription, TrialGrant
from tests.conftest import bearer, requires_postgres
from tests.factories import token_for
from tests.threads import run_threads

pytestmark = pytest.mark.usefixtures("seeded")

CREATED = datetime(2026, 3, 10, 12, tzinfo=UTC)


def _create(client, slug="trial-app", **extra):
    body = {"slug": slug, "display_name": "Trial app", "region": "us-east-1", **extra}
    return client.post("/api/v1/deployments", body, format="json")


@pytest.mark.django_db
def test_create_with_a_trial_starts_in_trial_with_its_end_set(tenant_client, tenant):
    response = _create(tenant_client, plan_code="studio", trial=True)
    assert response.status_code == 201, response.content
    body = response.json()
    deployment = Deployment.objects.get(pk=body["deployment"]["id"])
    subscription = Subscription.objects.get(deployment=deployment)
    assert (body["deployment"]["state"], deployment.state) == ("trial", "trial")
    assert subscription.trial_ends_at == deployment.created_at + timedelta(days=14)
    assert body["subscription"]["trial_ends_at"] is not None
    assert TrialGrant.objects.filter(tenant=tenant, plan__code="studio").count() == 1


@pytest.mark.django_db
def test_a_second_trial_of_the_same_plan_is_refused_and_creates_nothing(tenant_client):
    assert _create(tenant_client, plan_code="studio", trial=True).status_code == 201
    before = (Deployment.objects.count(), Subscription.objects.count(), Event.objects.count())
    response = _create(tenant_client, slug="second", plan_code="studio", trial=True)
    assert response.status_code == 422
    assert response.json() == {"error": "trial_already_used", "plan_code": "studio"}
    assert (Deployment.objects.count(), Subscription.objects.count(), Event.objects.count()) == (
        before
    )
    # another plan's trial is still open to the tenant
    assert _create(tenant_client, slug="third", plan_code="team", trial=True).status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "status", "error"),
    [
        (
            {"plan_code": "hobby", "trial": True},
            422,
            {"error": "trial_not_offered", "plan_code": "hobby"},
        ),
        ({"plan_code": "nope", "trial": True}, 404, {"error": "plan_or_version_not_found"}),
        (
            {"plan_code": "studio", "addons": ["nope"]},
            422,
            {"error": "unknown_addons", "codes": ["nope"]},
        ),
        (
            {"trial": True},
            422,
            {"error": "plan_code_required", "detail": "addons and trial need a plan_code"},
        ),
        ({"plan_code": "studio", "trial": "yes"}, 422, None),
    ],
)
def test_a_refused_subscribe_leaves_no_deployment_behind(tenant_client, extra, status, error):
    response = _create(tenant_client, **extra)
    assert response.status_code == status, response.content
    if error is not None:
        assert response.json() == error
    assert not Deployment.objects.exists()
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_create_with_a_plan_and_addons_subscribes_in_the_same_call(tenant_client):
    response = _create(tenant_client, plan_code="team", addons=["storage_50gb"])
    assert response.status_code == 201
    body = response.json()
    assert body["deployment"]["state"] == "active"
    assert body["subscription"]["plan_code"] == "team"
    assert [a["code"] for a in body["subscription"]["addons"]] == ["storage_50gb"]


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_racing_trial_requests_get_one_trial(tenant, tenant_identity):
    token = token_for(tenant_identity)
    barrier = threading.Barrier(2)
    statuses = []

    def request(i: int) -> None:
        barrier.wait(timeout=30)
        response = _create(bearer(token), slug=f"race-{i}", plan_code="studio", trial=True)
        statuses.append((response.status_code, response.json()))

    assert run_threads(2, request) == []
    assert sorted(s for s, _ in statuses) == [201, 422]
    assert [b for s, b in statuses if s == 422] == [
        {"error": "trial_already_used", "plan_code": "studio"}
    ]
    assert Deployment.objects.count() == 1
    assert TrialGrant.objects.count() == 1


def _trial(tenant, plan: str, slug: str) -> Deployment:
    return create_deployment(
        tenant=tenant,
        slug=slug,
        display_name=slug,
        region="us-east-1",
        actor=Actor.system("system:tests"),
        plan_code=plan,
        trial=True,
        at=CREATED,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("plan", "days", "end_state"),
    [("studio", 14, "active"), ("team", 14, "past_due"), ("enterprise", 30, "cancelled")],
)
def test_the_clock_ends_each_trial_as_its_version_says(tenant, plan, days, end_state):
    deployment = _trial(tenant, plan, f"{plan}-trial")
    ends = CREATED + timedelta(days=days)
    result = run_billing_cycle(as_of=ends - timedelta(seconds=1), batch_size=10)
    assert result.trials_ended == 0
    result = run_billing_cycle(as_of=ends + timedelta(minutes=5), batch_size=10)
    assert result.trials_ended == 1
    deployment.refresh_from_db()
    assert deployment.state == end_state
    assert deployment.state_since == ends  # as of the trial's end, not the clock's run
    event = DeploymentEvent.objects.filter(deployment=deployment).latest("id")
    assert (event.from_state, event.to_state, event.actor) == (
        "trial",
        end_state,
        "system:billing_clock",
    )
    # a second run does nothing more
    assert run_billing_cycle(as_of=ends + timedelta(minutes=6)).trials_ended == 0


@pytest.mark.django_db
def test_trial_time_is_not_billed(tenant):
    deployment = _trial(tenant, "studio", "billed-after-trial")
    run_billing_cycle(as_of=datetime(2026, 4, 1, tzinfo=UTC))
    [statement] = Statement.objects.filter(deployment=deployment)
    # March: trial from the 10th to the 24th 12:00, billed from then to the 1st
    price = Subscription.objects.get(deployment=deployment).plan_version.price_cents
    billed = (datetime(2026, 4, 1, tzinfo=UTC) - (CREATED + timedelta(days=14))).total_seconds()
    assert statement.total_cents == round(price * billed / (31 * 86400))


@pytest.mark.django_db
def test_an_overridden_trial_is_skipped_and_counted(tenant, platform_admin):
    deployment = _trial(tenant, "studio", "overridden-trial")
    set_billing_override(
        deployment_id=deployment.pk,
        suspended=True,
        actor=Actor.for_identity(platform_admin),
        reason="hold",
    )
    result = run_billing_cycle(as_of=CREATED + timedelta(days=15))
    assert (result.trials_ended, result.skipped_overridden) == (0, 1)
    deployment.refresh_from_db()
    assert deployment.state == "trial"


@pytest.mark.django_db
def test_the_trial_warning_is_recorded_once(tenant, settings):
    settings.ARCADIA_TRIAL_WARNING_DAYS = 3
    deployment = _trial(tenant, "studio", "warned")
    ends = CREATED + timedelta(days=14)
    assert run_billing_cycle(as_of=ends - timedelta(days=4)).trial_warnings == 0
    assert run_billing_cycle(as_of=ends - timedelta(days=2)).trial_warnings == 1
    assert run_billing_cycle(as_of=ends - timedelta(days=1)).trial_warnings == 0
    warnings = Event.objects.filter(type="subscription.trial_will_end", deployment_id=deployment.pk)
    assert warnings.count() == 1
    assert warnings.get().data["trial_ends_at"].startswith("2026-03-24T12:00:00")
    assert connection.vendor in ("postgresql", "sqlite")
