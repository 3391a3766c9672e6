"""POST /api/v1/deployments/{id}/transition: every (from, to) for a tenant identity
and a platform admin, with SPEC §3's status codes and bodies, and the database
afterwards."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from deployments.models import Deployment, DeploymentEvent
from tests.api.deployments.spec_shapes import ISO_Z, SPEC_DEPLOYMENT
from tests.deployments.helpers import assert_one_new_event, snapshot
from tests.deployments.spec_map import (
    ALL_CELLS,
    ALLOWED,
    INVALID,
    STATES,
    expected_outcome,
    moves_for,
)
from tests.factories import put_in_state


def url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/transition"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["tenant", "operator"])
@pytest.mark.parametrize(("from_state", "to_state"), ALL_CELLS)
def test_every_cell_over_http(from_state, to_state, role, clients, emails, deployment):
    put_in_state(deployment, from_state)
    before = snapshot(deployment)
    started = timezone.now()

    response = clients[role].post(
        url(deployment),
        {"to_state": to_state, "reason": "asked", "notes": "via api"},
        format="json",
        HTTP_X_REQUEST_ID="req-cell-1",
    )

    expected = expected_outcome(from_state, to_state, role)
    if expected == ALLOWED:
        assert response.status_code == 200, response.content
        body = response.json()["deployment"]
        assert set(body) == SPEC_DEPLOYMENT
        assert body["id"] == str(deployment.pk)
        assert body["state"] == to_state
        assert set(body["allowed_transitions"]) == moves_for(to_state, role)
        assert ISO_Z.match(body["state_since"]), body["state_since"]
        assert ISO_Z.match(body["created_at"]), body["created_at"]
        row = Deployment.objects.get(pk=deployment.pk)
        assert row.state == to_state
        assert row.state_since >= started
        new = list(
            DeploymentEvent.objects.filter(deployment=deployment).exclude(
                pk__in=[e["id"] for e in before["events"]]
            )
        )
        assert len(new) == 1
        event = new[0]
        assert (event.from_state, event.to_state) == (from_state, to_state)
        assert (event.actor, event.reason, event.notes) == (emails[role], "asked", "via api")
        assert event.request_id == "req-cell-1"
        return

    if expected == INVALID:
        assert response.status_code == 422, response.content
        assert response.json() == {
            "error": "invalid_transition",
            "from": from_state,
            "to": to_state,
        }
    else:
        assert response.status_code == 403, response.content
        assert response.json() == {"error": "forbidden"}
    assert snapshot(deployment) == before


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["tenant", "operator"])
@pytest.mark.parametrize("state", STATES)
def test_allowed_transitions_in_show_and_list_are_the_callers_moves(
    state, role, clients, deployment
):
    put_in_state(deployment, state)
    show = clients[role].get(f"/api/v1/deployments/{deployment.pk}").json()
    assert set(show["deployment"]["allowed_transitions"]) == moves_for(state, role)
    listed = clients[role].get("/api/v1/deployments").json()["deployments"]
    assert [set(d["allowed_transitions"]) for d in listed] == [moves_for(state, role)]


@pytest.mark.django_db
def test_expected_state_mismatch_is_409_and_writes_nothing(tenant_client, deployment):
    before = snapshot(deployment)
    response = tenant_client.post(
        url(deployment), {"to_state": "paused", "expected_state": "paused"}, format="json"
    )
    assert response.status_code == 409
    assert response.json() == {"error": "state_conflict", "expected": "paused", "actual": "active"}
    assert snapshot(deployment) == before


@pytest.mark.django_db
def test_expected_state_match_moves(tenant_client, deployment):
    response = tenant_client.post(
        url(deployment), {"to_state": "paused", "expected_state": "active"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()["deployment"]
    assert set(body) == SPEC_DEPLOYMENT
    assert (body["id"], body["state"]) == (str(deployment.pk), "paused")
    assert Deployment.objects.get(pk=deployment.pk).state == "paused"
    assert_one_new_event(
        deployment, before=1, from_state="active", to_state="paused", actor="owner@acme.example"
    )


@pytest.mark.django_db
def test_missing_to_state_is_400_and_writes_nothing(tenant_client, deployment):
    before = snapshot(deployment)
    response = tenant_client.post(url(deployment), {"reason": "no target"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_request"
    assert "to_state" in body["detail"]
    assert snapshot(deployment) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [
        {"to_state": None},
        {"to_state": ["paused"]},
        {"to_state": {"state": "paused"}},
        {"to_state": True},
        {"to_state": 7},
        {"to_state": ""},
        {"to_state": "x" * 10_000},
        {"to_state": "paused", "reason": ["a", "b"]},
        {"to_state": "paused", "reason": "r" * 501},
        {"to_state": "paused", "notes": {"a": 1}},
        {"to_state": "paused", "reason": "nul\x00byte"},
        {"to_state": "paused", "notes": "nul\x00byte"},
        {"to_state": "paus\x00ed"},
        {"to_state": "paused", "expected_state": 5.5},
        {"to_state": "paused", "expected_state": ["active"]},
        ["paused"],
        "paused",
        42,
        None,
    ],
)
def test_wrong_types_are_4xx_json_and_write_nothing(tenant_client, deployment, payload):
    before = snapshot(deployment)
    response = tenant_client.post(url(deployment), payload, format="json")
    assert 400 <= response.status_code < 500, response.content
    assert "error" in response.json()
    assert snapshot(deployment) == before


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["{not json", "", "\x00\x01", '{"to_state": "paused"', "[1, 2"])
def test_malformed_body_is_4xx_and_writes_nothing(tenant_client, deployment, body):
    before = snapshot(deployment)
    response = tenant_client.post(url(deployment), body, content_type="application/json")
    assert 400 <= response.status_code < 500, response.content
    assert "error" in response.json()
    assert snapshot(deployment) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad_id", ["not-a-uuid", "1234", "00000000-0000-0000-0000-00000000000g", "%00", "'; --"]
)
@pytest.mark.parametrize("suffix", ["", "/events", "/transition"])
def test_non_uuid_ids_are_json_404(tenant_client, bad_id, suffix):
    path = f"/api/v1/deployments/{bad_id}{suffix}"
    response = (
        tenant_client.post(path, {"to_state": "paused"}, format="json")
        if suffix == "/transition"
        else tenant_client.get(path)
    )
    assert response.status_code == 404
    assert response.json() == {"error": "not_found"}


@pytest.mark.django_db
def test_request_id_is_stored_on_the_event_and_echoed(tenant_client, deployment):
    response = tenant_client.post(
        url(deployment), {"to_state": "paused"}, format="json", HTTP_X_REQUEST_ID="trace-42"
    )
    assert response.status_code == 200
    assert response["X-Request-Id"] == "trace-42"
    event = DeploymentEvent.objects.filter(deployment=deployment).latest("id")
    assert event.request_id == "trace-42"


@pytest.mark.django_db
def test_generated_request_id_is_stored_when_the_caller_sends_none(tenant_client, deployment):
    response = tenant_client.post(url(deployment), {"to_state": "paused"}, format="json")
    assert response.status_code == 200
    event = DeploymentEvent.objects.filter(deployment=deployment).latest("id")
    assert event.request_id == response["X-Request-Id"]
    assert len(event.request_id) == 32


@pytest.mark.django_db
def test_unknown_deployment_is_404_and_writes_nothing(tenant_client):
    response = tenant_client.post(
        f"/api/v1/deployments/{uuid.uuid4()}/transition", {"to_state": "paused"}, format="json"
    )
    assert response.status_code == 404
    assert response.json() == {"error": "not_found"}
    assert not DeploymentEvent.objects.exists()


@pytest.mark.django_db
def test_tenant_cannot_unsuspend_its_own_deployment(tenant_client, deployment):
    put_in_state(deployment, "suspended")
    response = tenant_client.post(url(deployment), {"to_state": "active"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"error": "forbidden"}
    assert Deployment.objects.get(pk=deployment.pk).state == "suspended"
