"""Controllers report what they observe: the generation rules (409 for a
generation not reached yet or older than the last report), an event only when
something changed, and nobody but a controller may report."""

from __future__ import annotations

import pytest

from arcadia_cloud.actors import Actor
from arcadia_cloud.errors import Forbidden
from deployments.errors import ResourceNotFound, StaleGeneration
from deployments.resources import report_status, update_resource
from tests.factories import SYSTEM_ACTOR
from tests.resources.conftest import make_resource, post_json, resource_events, row

pytestmark = pytest.mark.django_db


def report(resource, actor, state="running", generation=1, message=""):
    return report_status(
        resource_id=resource.pk,
        observed_state=state,
        observed_generation=generation,
        message=message,
        actor=actor,
    )


def test_a_report_at_the_current_generation_clears_pending(subscribed, controller_actor):
    resource = make_resource(subscribed)
    report(resource, controller_actor, "running", 1, "up in 3s")
    stored = row(resource)
    assert (stored["observed_state"], stored["observed_generation"]) == ("running", 1)
    assert stored["status_message"] == "up in 3s"
    assert stored["observed_at"] is not None
    [_, event] = resource_events()
    assert event.type == "resource.status_changed"
    assert event.data["pending"] is False
    assert event.data["observed_state"] == "running"


def test_a_future_generation_is_stale(subscribed, controller_actor):
    resource = make_resource(subscribed)
    with pytest.raises(StaleGeneration) as refused:
        report(resource, controller_actor, generation=2)
    assert refused.value.body() == {
        "error": "stale_generation",
        "reported": 2,
        "generation": 1,
        "observed_generation": 0,
    }
    assert row(resource)["observed_generation"] == 0


def test_a_report_older_than_the_last_one_is_stale(subscribed, controller_actor, tenant_actor):
    resource = make_resource(subscribed)
    update_resource(resource_id=resource.pk, qty=20, actor=tenant_actor)
    report(resource, controller_actor, "running", 2)
    with pytest.raises(StaleGeneration):
        report(resource, controller_actor, "running", 1)
    assert row(resource)["observed_generation"] == 2


def test_an_older_generation_than_current_but_not_than_the_last_report_is_accepted(
    subscribed, controller_actor, tenant_actor
):
    # The controller is behind: it reports generation 1 while 2 is wanted.
    resource = make_resource(subscribed)
    update_resource(resource_id=resource.pk, qty=20, actor=tenant_actor)
    report(resource, controller_actor, "running", 1)
    assert (row(resource)["observed_generation"], row(resource)["generation"]) == (1, 2)


def test_the_same_generation_may_change_the_state(subscribed, controller_actor):
    resource = make_resource(subscribed)
    report(resource, controller_actor, "running", 1)
    report(resource, controller_actor, "failed", 1, "disk full")
    assert (row(resource)["observed_state"], row(resource)["status_message"]) == (
        "failed",
        "disk full",
    )
    assert [e.type for e in resource_events()][-2:] == [
        "resource.status_changed",
        "resource.status_changed",
    ]


def test_a_repeated_report_writes_nothing(subscribed, controller_actor):
    resource = make_resource(subscribed)
    report(resource, controller_actor, "running", 1)
    stored, events = row(resource), len(resource_events())
    report(resource, controller_actor, "running", 1)
    assert row(resource) == stored
    assert len(resource_events()) == events


@pytest.mark.parametrize("who", ["system", "operator", "tenant"])
def test_only_a_controller_reports(subscribed, tenant_identity, who):
    resource = make_resource(subscribed)
    actor = {
        "system": SYSTEM_ACTOR,
        "operator": Actor(kind="operator", label="ops@arcadia.example"),
        "tenant": Actor.for_identity(tenant_identity),
    }[who]
    with pytest.raises(Forbidden):
        report(resource, actor)
    assert row(resource)["observed_generation"] == 0


def test_a_missing_resource_is_not_found(subscribed, controller_actor):
    import uuid

    with pytest.raises(ResourceNotFound):
        report_status(
            resource_id=uuid.uuid4(),
            observed_state="running",
            observed_generation=0,
            actor=controller_actor,
        )


# ---- the API ---------------------------------------------------------------------


def status_url(resource) -> str:
    return f"/api/v1/resources/{resource.pk}/status"


def test_the_api_reports_and_answers_the_resource(
    subscribed, controller_client, django_assert_max_num_queries
):
    resource = make_resource(subscribed)
    controller_client.get("/api/v1/me")  # the token's first use writes its last_used_at
    # token; SAVEPOINT (the service's transaction, inside the test's); the
    # resource locked in scope; its UPDATE; the event's INSERT; RELEASE
    with django_assert_max_num_queries(6):
        response = post_json(
            controller_client,
            status_url(resource),
            {"observed_state": "running", "observed_generation": 1, "message": "ok"},
        )
    assert response.status_code == 200, response.content
    body = response.json()["resource"]
    assert (body["observed_state"], body["observed_generation"], body["pending"]) == (
        "running",
        1,
        False,
    )
    assert row(resource)["status_message"] == "ok"


def test_the_api_answers_409_for_a_stale_generation(subscribed, controller_client):
    resource = make_resource(subscribed)
    response = post_json(
        controller_client,
        status_url(resource),
        {"observed_state": "running", "observed_generation": 9},
    )
    assert response.status_code == 409
    assert response.json() == {
        "error": "stale_generation",
        "reported": 9,
        "generation": 1,
        "observed_generation": 0,
    }
    assert row(resource)["observed_state"] == "pending"


@pytest.mark.parametrize("client_name", ["tenant_client", "admin_client_api", "other_client"])
def test_nobody_else_reports_whatever_the_id(subscribed, request, client_name):
    import uuid

    client = request.getfixturevalue(client_name)
    resource = make_resource(subscribed)
    body = {"observed_state": "running", "observed_generation": 1}
    for url in (status_url(resource), f"/api/v1/resources/{uuid.uuid4()}/status"):
        response = post_json(client, url, body)
        assert (response.status_code, response.json()) == (403, {"error": "forbidden"})
    # also with a body that does not parse: refused before it is read
    response = post_json(client, status_url(resource), {"observed_state": 5})
    assert response.status_code == 403
    assert row(resource)["observed_generation"] == 0


def test_bad_report_bodies_are_422_naming_the_field(subscribed, controller_client):
    resource = make_resource(subscribed)
    for body, field in (
        ({"observed_state": "sleeping", "observed_generation": 1}, "observed_state"),
        ({"observed_state": "running", "observed_generation": "1"}, "observed_generation"),
        ({"observed_state": "running", "observed_generation": -1}, "observed_generation"),
        ({"observed_state": "running"}, "observed_generation"),
        ({"observed_state": "running", "observed_generation": 1, "message": "x" * 1001}, "message"),
    ):
        response = post_json(controller_client, status_url(resource), body)
        assert response.status_code == 422, body
        assert field in response.json()["error"], body
    assert row(resource)["observed_generation"] == 0
