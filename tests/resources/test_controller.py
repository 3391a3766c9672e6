"""The controller role: a machine identity that reads every tenant's deployments,
resources and events and reports resource status, and can do nothing else,
through the API or a service. (Every route x the controller is in the
authorization matrix, tests/reliability/test_authorization_matrix.py.)"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from arcadia_cloud.actors import CONTROLLER, Actor
from arcadia_cloud.models import Role, User
from arcadia_cloud.scope import scope_for
from deployments.errors import TransitionForbidden
from deployments.models import Deployment
from deployments.transitions import TRANSITIONS, allowed_targets, transition_state
from feed.models import Event
from tests.resources.conftest import make_resource, post_json

pytestmark = pytest.mark.django_db


def test_create_identity_controller_makes_a_tenantless_controller():
    out = StringIO()
    call_command("create_identity", "ctl@arcadia.example", "--controller", stdout=out)
    user = User.objects.get(email="ctl@arcadia.example")
    assert out.getvalue().strip().splitlines()[-1] == str(user.pk)
    assert (user.roles, user.tenant_id, user.is_staff) == ([Role.CONTROLLER.value], None, False)
    assert user.is_controller
    assert not user.is_platform_admin
    assert Actor.for_identity(user).kind == CONTROLLER
    assert scope_for(Actor.for_identity(user)).everything


@pytest.mark.parametrize(
    "extra", [["--platform-admin"], ["--staff"], ["--tenant", "acme"], ["--group", "support"]]
)
def test_a_controller_has_no_tenant_other_role_or_admin_login(tenant, extra):
    with pytest.raises(CommandError, match="controller"):
        call_command("create_identity", "ctl@arcadia.example", "--controller", *extra)
    assert not User.objects.filter(email="ctl@arcadia.example").exists()


def test_the_model_refuses_a_controller_with_another_role(tenant):
    user = User(email="x@arcadia.example", roles=["controller", "platform_admin"])
    with pytest.raises(ValidationError):
        user.full_clean(exclude=["password"])
    user = User(email="y@arcadia.example", roles=["controller"], tenant=tenant)
    with pytest.raises(ValidationError):
        user.full_clean(exclude=["password"])


def test_me_says_controller(controller_client):
    response = controller_client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json() == {
        "email": "controller@arcadia.example",
        "tenant_id": None,
        "roles": ["controller"],
    }


def test_a_controller_reads_every_tenants_deployments_and_may_move_none(
    deployment, foreign_deployment, controller_client
):
    response = controller_client.get("/api/v1/deployments")
    assert response.status_code == 200
    listed = response.json()["deployments"]
    assert {d["id"] for d in listed} == {str(deployment.pk), str(foreign_deployment.pk)}
    assert all(d["allowed_transitions"] == [] for d in listed)
    for url in (
        f"/api/v1/deployments/{foreign_deployment.pk}",
        f"/api/v1/deployments/{foreign_deployment.pk}/events",
    ):
        assert controller_client.get(url).status_code == 200


def test_a_controller_is_refused_every_write_route(deployment, controller_client):
    for path, body in (
        ("/api/v1/deployments", {"slug": "x", "display_name": "X", "region": "us-east-1"}),
        (f"/api/v1/deployments/{deployment.pk}/transition", {"to_state": "paused"}),
        (f"/api/v1/deployments/{deployment.pk}/subscribe", {"plan_code": "studio"}),
    ):
        response = post_json(controller_client, path, body)
        assert (response.status_code, response.json()) == (403, {"error": "forbidden"}), path
    assert Deployment.objects.count() == 1
    deployment.refresh_from_db()
    assert deployment.state == "active"


def test_the_map_never_lists_a_controller_even_through_the_service(deployment, controller_actor):
    assert all(CONTROLLER not in rule.kinds for rule in TRANSITIONS.values())
    assert allowed_targets(deployment, controller_actor) == []
    with pytest.raises(TransitionForbidden):
        transition_state(deployment_id=deployment.pk, to_state="paused", actor=controller_actor)
    deployment.refresh_from_db()
    assert deployment.state == "active"


def test_a_controller_reads_every_tenants_resource_events_from_the_feed(
    subscribed, foreign_subscribed, controller_client, tenant_client
):
    make_resource(subscribed, name="ours")
    make_resource(foreign_subscribed, name="theirs")
    page = controller_client.get("/api/v1/events?types=resource.*").json()
    assert sorted(e["data"]["name"] for e in page["events"]) == ["ours", "theirs"]
    assert {e["type"] for e in page["events"]} == {"resource.created"}
    # a tenant reads its own only
    page = tenant_client.get("/api/v1/events?types=resource.*").json()
    assert [e["data"]["name"] for e in page["events"]] == ["ours"]
    assert Event.objects.filter(type="resource.created").count() == 2


def test_a_controller_reconciles_from_the_pending_list(
    subscribed, foreign_subscribed, controller_client, tenant_client
):
    # a tenant creates, the controller brings it up, the tenant stops it, the
    # controller catches up: the pending list empties each time
    make_resource(subscribed, name="web")
    make_resource(foreign_subscribed, name="api")

    def reconcile() -> int:
        pending = controller_client.get("/api/v1/resources?pending=true").json()["resources"]
        for resource in pending:
            observed = resource["desired_state"]
            response = post_json(
                controller_client,
                f"/api/v1/resources/{resource['id']}/status",
                {"observed_state": observed, "observed_generation": resource["generation"]},
            )
            assert response.status_code == 200, response.content
        return len(pending)

    assert reconcile() == 2
    assert reconcile() == 0
    web = tenant_client.get("/api/v1/resources").json()["resources"][0]
    response = tenant_client.patch(
        f"/api/v1/resources/{web['id']}", {"desired_state": "stopped"}, format="json"
    )
    assert response.status_code == 200
    assert reconcile() == 1
    shown = tenant_client.get(f"/api/v1/resources/{web['id']}").json()["resource"]
    assert (shown["observed_state"], shown["observed_generation"], shown["pending"]) == (
        "stopped",
        2,
        False,
    )
