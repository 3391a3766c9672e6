"""Types are strict on every input body: a JSON number where a string is
expected (or the reverse, or a boolean for an integer) is refused with the
field named, never coerced, and strings are stored exactly as sent."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from arcadia_cloud.actors import Actor
from deployments.models import Deployment, DeploymentEvent
from deployments.services import create_subscription
from subscriptions.models import PlanChange, Subscription, SubscriptionAddon
from tests.factories import make_deployment
from tests.reliability.conftest import post_json

pytestmark = pytest.mark.django_db

VALID = {"slug": "web", "display_name": "Web", "region": "us-east-1"}


@pytest.fixture
def seeded(db):
    call_command("seed_catalog", verbosity=0)


def _snapshot():
    return (
        sorted(Deployment.objects.values_list("id", "state", "updated_at")),
        DeploymentEvent.objects.count(),
        sorted(Subscription.objects.values_list("id", "plan_version_id", "status")),
        SubscriptionAddon.objects.count(),
        PlanChange.objects.count(),
    )


def _refused(response, field: str, status: int) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    errors = body["error"] if status == 422 else body["detail"]
    assert field in errors, body


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slug", 12345),
        ("slug", "abc\n"),
        ("slug", " abc"),
        ("slug", True),
        ("display_name", 12),
        ("display_name", 1.5),
        ("display_name", False),
        ("region", 1),
        ("llm_mode", 1),
        ("llm_mode", True),
        ("template_code", 7),
        ("template_version", 1.0),
        ("template_version", 6),
        ("tenant_id", 1),
    ],
)
def test_create_refuses_a_wrong_type(tenant_client, deployment, field, value):
    before = _snapshot()
    response = post_json(tenant_client, "/api/v1/deployments", {**VALID, field: value})
    _refused(response, field, 422)
    assert _snapshot() == before


def test_create_stores_strings_as_sent(tenant_client):
    sent = {
        **VALID,
        "display_name": "  Web \t shop  ",
        "template_code": " wordpress ",
        "template_version": "6.5\n",
    }
    response = post_json(tenant_client, "/api/v1/deployments", sent)
    assert response.status_code == 201, response.content
    body = response.json()["deployment"]
    row = Deployment.objects.get(pk=body["id"])
    for name in ("display_name", "template_code", "template_version"):
        assert body[name] == getattr(row, name) == sent[name]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to_state", 1),
        ("to_state", "paused "),
        ("reason", 5),
        ("reason", ["holiday"]),
        ("notes", 5.5),
        ("notes", True),
        ("expected_state", 0),
    ],
)
def test_transition_refuses_a_wrong_type(tenant_client, deployment, field, value):
    before = _snapshot()
    body = {"to_state": "paused", field: value}
    response = post_json(tenant_client, f"/api/v1/deployments/{deployment.pk}/transition", body)
    if field == "to_state" and isinstance(value, str):
        # a well-typed string that is no state: the map refuses it
        assert response.status_code == 422, response.content
        assert response.json()["error"] == "invalid_transition"
    else:
        _refused(response, field, 400)
    assert _snapshot() == before


def test_transition_stores_reason_and_notes_as_sent(tenant_client, deployment):
    body = {"to_state": "paused", "reason": " holiday ", "notes": "line one\n"}
    response = post_json(tenant_client, f"/api/v1/deployments/{deployment.pk}/transition", body)
    assert response.status_code == 200, response.content
    event = DeploymentEvent.objects.filter(deployment=deployment).latest("id")
    assert (event.reason, event.notes) == (" holiday ", "line one\n")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", "1"),
        ("version", 1.0),
        ("version", True),
        ("plan_code", 1),
        ("plan_code", "studio\n"),
        ("addons", [1]),
        ("addons", "storage_50gb"),
    ],
)
def test_subscribe_refuses_a_wrong_type(tenant_client, deployment, seeded, field, value):
    before = _snapshot()
    body = {"plan_code": "studio", field: value}
    response = post_json(tenant_client, f"/api/v1/deployments/{deployment.pk}/subscribe", body)
    _refused(response, field, 422)
    assert _snapshot() == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("subscription/change-plan", {"plan_code": "team", "version": "1"}, "version"),
        ("subscription/change-plan", {"plan_code": "team", "version": 1.0}, "version"),
        ("subscription/change-plan", {"plan_code": 5}, "plan_code"),
        ("subscription/addons", {"addon_code": 5}, "addon_code"),
        ("subscription/addons", {"addon_code": "seats_5 "}, "addon_code"),
    ],
)
def test_subscription_changes_refuse_a_wrong_type(tenant_client, tenant, seeded, path, body, field):
    deployment = make_deployment(tenant, slug="subscribed")
    create_subscription(
        deployment_id=deployment.pk, plan_code="studio", actor=Actor.system("system:tests")
    )
    before = _snapshot()
    response = post_json(tenant_client, f"/api/v1/deployments/{deployment.pk}/{path}", body)
    _refused(response, field, 422)
    assert _snapshot() == before
