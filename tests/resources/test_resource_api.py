"""The resources API: status, body and the database after each call; another
tenant's deployment or resource is 404 like a missing one; lists page by keyset."""

from __future__ import annotations

import uuid

import pytest

from deployments.models import CloudResource
from deployments.resources import update_resource
from tests.factories import SYSTEM_ACTOR, make_deployment, put_in_state
from tests.resources.conftest import (
    make_resource,
    patch_json,
    post_json,
    resource_events,
    row,
)

pytestmark = pytest.mark.django_db

SHAPE = {
    "id",
    "deployment_id",
    "tenant_id",
    "kind",
    "name",
    "qty",
    "desired_state",
    "observed_state",
    "generation",
    "observed_generation",
    "pending",
    "held",
    "status_message",
    "observed_at",
    "created_at",
    "updated_at",
}


def resources_url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/resources"


def resource_url(resource) -> str:
    return f"/api/v1/resources/{resource.pk}"


# ---- create -----------------------------------------------------------------------


def test_create_answers_201_with_the_resource_and_stores_it(
    subscribed, tenant_client, tenant_identity, django_assert_max_num_queries
):
    tenant_client.get("/api/v1/me")  # the token's first use writes its last_used_at
    # token; the deployment in scope; SAVEPOINT; the deployment locked; the
    # plan version's quotas; the add-on sums; the resource sums; INSERT the
    # resource; INSERT its event; RELEASE
    with django_assert_max_num_queries(10):
        response = post_json(
            tenant_client,
            resources_url(subscribed),
            {"kind": "storage_gb", "name": "web", "qty": 40},
        )
    assert response.status_code == 201, response.content
    body = response.json()["resource"]
    assert set(body) == SHAPE
    stored = CloudResource.objects.get()
    assert body["id"] == str(stored.pk)
    assert (body["deployment_id"], body["tenant_id"]) == (
        str(subscribed.pk),
        str(subscribed.tenant_id),
    )
    assert (body["kind"], body["name"], body["qty"]) == ("storage_gb", "web", 40)
    assert (body["desired_state"], body["observed_state"], body["generation"]) == (
        "running",
        "pending",
        1,
    )
    assert (body["observed_generation"], body["pending"], body["held"]) == (0, True, False)
    [event] = resource_events()
    assert event.type == "resource.created"
    assert event.data == body
    assert event.request_id == response["X-Request-Id"]


def test_create_past_the_limit_is_quota_exceeded_and_writes_nothing(subscribed, tenant_client):
    make_resource(subscribed, name="big", qty=120)
    response = post_json(
        tenant_client, resources_url(subscribed), {"kind": "storage_gb", "name": "more", "qty": 40}
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": "quota_exceeded",
        "resource_kind": "storage_gb",
        "limit": 150,
        "used": 120,
        "requested": 40,
    }
    assert CloudResource.objects.count() == 1
    assert len(resource_events()) == 1


def test_create_on_a_paused_deployment_is_not_running(subscribed, tenant_client):
    put_in_state(subscribed, "paused")
    response = post_json(
        tenant_client, resources_url(subscribed), {"kind": "storage_gb", "name": "web", "qty": 1}
    )
    assert (response.status_code, response.json()) == (
        422,
        {"error": "deployment_not_running", "state": "paused"},
    )
    assert not CloudResource.objects.exists()


def test_create_with_a_taken_name_is_409(subscribed, tenant_client):
    make_resource(subscribed, name="web")
    response = post_json(
        tenant_client, resources_url(subscribed), {"kind": "seats", "name": "web", "qty": 1}
    )
    assert (response.status_code, response.json()) == (
        409,
        {"error": "resource_name_taken", "name": "web"},
    )
    assert CloudResource.objects.count() == 1


def test_create_with_an_unknown_kind_is_422(subscribed, tenant_client):
    response = post_json(
        tenant_client, resources_url(subscribed), {"kind": "unicorns", "name": "web", "qty": 1}
    )
    assert (response.status_code, response.json()) == (
        422,
        {"error": "unknown_resource_kind", "resource_kind": "unicorns"},
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "storage_gb", "name": "Web", "qty": 1}, "name"),
        ({"kind": "storage_gb", "name": "web\n", "qty": 1}, "name"),
        ({"kind": "storage_gb", "name": "-web", "qty": 1}, "name"),
        ({"kind": "storage_gb", "name": "w" * 64, "qty": 1}, "name"),
        ({"kind": "Storage", "name": "web", "qty": 1}, "kind"),
        ({"kind": 5, "name": "web", "qty": 1}, "kind"),
        ({"kind": "storage_gb", "name": "web", "qty": 0}, "qty"),
        ({"kind": "storage_gb", "name": "web", "qty": "1"}, "qty"),
        ({"kind": "storage_gb", "name": "web", "qty": 1.0}, "qty"),
        ({"kind": "storage_gb", "name": "web", "qty": True}, "qty"),
        ({"kind": "storage_gb", "name": "web", "qty": 2**31}, "qty"),
        (
            {"kind": "storage_gb", "name": "web", "qty": 1, "desired_state": "deleted"},
            "desired_state",
        ),
        ({"name": "web", "qty": 1}, "kind"),
    ],
)
def test_create_refuses_bad_fields_by_name(subscribed, tenant_client, body, field):
    response = post_json(tenant_client, resources_url(subscribed), body)
    assert response.status_code == 422, response.content
    assert field in response.json()["error"]
    assert not CloudResource.objects.exists()


def test_create_on_another_tenants_deployment_is_404_like_a_missing_one(
    foreign_subscribed, tenant_client
):
    body = {"kind": "storage_gb", "name": "web", "qty": 1}
    foreign = post_json(tenant_client, resources_url(foreign_subscribed), body)
    missing = post_json(tenant_client, f"/api/v1/deployments/{uuid.uuid4()}/resources", body)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content
    assert not CloudResource.objects.exists()


def test_a_platform_admin_creates_on_any_tenants_deployment(foreign_subscribed, admin_client_api):
    response = post_json(
        admin_client_api,
        resources_url(foreign_subscribed),
        {"kind": "storage_gb", "name": "web", "qty": 1, "desired_state": "stopped"},
    )
    assert response.status_code == 201
    assert row(CloudResource.objects.get())["desired_state"] == "stopped"


def test_an_idempotency_key_replays_a_create(subscribed, tenant_client):
    body = {"kind": "storage_gb", "name": "web", "qty": 1}
    url = resources_url(subscribed)
    first = tenant_client.post(url, data=body, format="json", HTTP_IDEMPOTENCY_KEY="create-web-1")
    second = tenant_client.post(url, data=body, format="json", HTTP_IDEMPOTENCY_KEY="create-web-1")
    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert first.json() == second.json()
    assert CloudResource.objects.count() == 1
    assert len(resource_events()) == 1


# ---- list, show -------------------------------------------------------------------


def test_the_list_pages_by_keyset_in_creation_order(
    subscribed, tenant_client, django_assert_max_num_queries
):
    names = [f"r{i}" for i in range(5)]
    for name in names:
        make_resource(subscribed, kind="seats", name=name, qty=1)
    url = f"{resources_url(subscribed)}?limit=2"
    tenant_client.get(url)
    seen = []
    while url:
        # token, the deployment in scope, the page
        with django_assert_max_num_queries(3):
            response = tenant_client.get(url)
        assert response.status_code == 200
        page = response.json()
        assert set(page) == {"resources", "next"}
        seen.extend(r["name"] for r in page["resources"])
        url = page["next"]
    assert seen == names


def test_the_list_of_another_tenants_deployment_is_404(foreign_subscribed, tenant_client):
    make_resource(foreign_subscribed)
    response = tenant_client.get(resources_url(foreign_subscribed))
    assert (response.status_code, response.json()) == (404, {"error": "not_found"})


def test_a_bad_cursor_is_400(subscribed, tenant_client):
    for junk in ("abc", "n12", str(uuid.uuid4()).upper(), "0" * 32):
        response = tenant_client.get(f"{resources_url(subscribed)}?cursor={junk}")
        assert response.status_code == 400, junk
        assert response.json()["error"] == "bad_request"


def test_show_answers_the_resource_and_hides_another_tenants(
    subscribed, foreign_subscribed, tenant_client
):
    own = make_resource(subscribed)
    foreign = make_resource(foreign_subscribed)
    response = tenant_client.get(resource_url(own))
    assert response.status_code == 200
    assert response.json()["resource"]["id"] == str(own.pk)
    hidden = tenant_client.get(resource_url(foreign))
    missing = tenant_client.get(f"/api/v1/resources/{uuid.uuid4()}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content


def test_the_cross_deployment_list_filters(subscribed, foreign_subscribed, tenant_client):
    web = make_resource(subscribed, name="web", kind="storage_gb", qty=1)
    team = make_resource(subscribed, name="team", kind="seats", qty=1)
    make_resource(foreign_subscribed, name="theirs", qty=1)
    update_resource(resource_id=team.pk, qty=2, actor=SYSTEM_ACTOR)
    other = make_deployment(subscribed.tenant, slug="other")

    def names(query=""):
        response = tenant_client.get(f"/api/v1/resources{query}")
        assert response.status_code == 200, response.content
        return [r["name"] for r in response.json()["resources"]]

    assert names() == ["web", "team"]
    assert names("?kind=seats") == ["team"]
    assert names(f"?deployment={subscribed.pk}") == ["web", "team"]
    assert names(f"?deployment={other.pk}") == []
    assert names(f"?deployment={foreign_subscribed.pk}") == []
    assert names("?pending=true") == ["web", "team"]
    assert names("?pending=false") == []
    for bad in ("?pending=yes", "?kind=Seats", "?deployment=abc", "?limit=0", "?cursor=x"):
        assert tenant_client.get(f"/api/v1/resources{bad}").status_code == 400, bad
    assert web.pk


# ---- change, delete ----------------------------------------------------------------


def test_patch_changes_qty_and_state_and_bumps_the_generation(subscribed, tenant_client):
    resource = make_resource(subscribed, qty=10)
    response = patch_json(
        tenant_client, resource_url(resource), {"qty": 20, "desired_state": "stopped"}
    )
    assert response.status_code == 200, response.content
    body = response.json()["resource"]
    assert (body["qty"], body["desired_state"], body["generation"], body["pending"]) == (
        20,
        "stopped",
        2,
        True,
    )
    assert (row(resource)["qty"], row(resource)["generation"]) == (20, 2)
    assert resource_events()[-1].type == "resource.updated"


def test_patch_past_the_limit_is_quota_exceeded(subscribed, tenant_client):
    resource = make_resource(subscribed, qty=100)
    response = patch_json(tenant_client, resource_url(resource), {"qty": 200})
    assert response.status_code == 422
    assert response.json() == {
        "error": "quota_exceeded",
        "resource_kind": "storage_gb",
        "limit": 150,
        "used": 100,
        "requested": 100,
    }
    assert row(resource)["qty"] == 100


def test_patch_refuses_deleted_as_a_desired_state_and_bad_types(subscribed, tenant_client):
    resource = make_resource(subscribed)
    for body in ({"desired_state": "deleted"}, {"qty": "5"}, {"qty": 0}, {"desired_state": 1}):
        response = patch_json(tenant_client, resource_url(resource), body)
        assert response.status_code == 422, body
    assert row(resource)["generation"] == 1


def test_patch_and_delete_of_another_tenants_resource_are_404(foreign_subscribed, tenant_client):
    resource = make_resource(foreign_subscribed)
    assert patch_json(tenant_client, resource_url(resource), {"qty": 2}).status_code == 404
    assert tenant_client.delete(resource_url(resource)).status_code == 404
    assert row(resource)["generation"] == 1


def test_delete_asks_for_deletion_and_answers_the_resource(subscribed, tenant_client):
    resource = make_resource(subscribed)
    response = tenant_client.delete(resource_url(resource))
    assert response.status_code == 200
    body = response.json()["resource"]
    assert (body["desired_state"], body["generation"]) == ("deleted", 2)
    assert row(resource)["desired_state"] == "deleted"
    again = tenant_client.delete(resource_url(resource))
    assert (again.status_code, again.json()) == (200, response.json())
    assert [e.type for e in resource_events()] == ["resource.created", "resource.deleted"]
    patched = patch_json(tenant_client, resource_url(resource), {"qty": 2})
    assert (patched.status_code, patched.json()) == (422, {"error": "resource_deleted"})


# ---- controllers -------------------------------------------------------------------


def test_a_controller_lists_pending_resources_of_every_tenant(
    subscribed, foreign_subscribed, controller_client, controller_actor
):
    ours = make_resource(subscribed, name="ours")
    theirs = make_resource(foreign_subscribed, name="theirs")
    done = make_resource(subscribed, name="done", kind="seats", qty=1)
    from deployments.resources import report_status

    report_status(
        resource_id=done.pk, observed_state="running", observed_generation=1, actor=controller_actor
    )
    response = controller_client.get("/api/v1/resources?pending=true")
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["resources"]] == [str(ours.pk), str(theirs.pk)]
    assert controller_client.get(resource_url(theirs)).status_code == 200
    assert controller_client.get(resources_url(foreign_subscribed)).status_code == 200


def test_a_controller_may_not_write_resources(subscribed, controller_client):
    resource = make_resource(subscribed)
    body = {"kind": "storage_gb", "name": "x", "qty": 1}
    for response in (
        post_json(controller_client, resources_url(subscribed), body),
        patch_json(controller_client, resource_url(resource), {"qty": 2}),
        controller_client.delete(resource_url(resource)),
        controller_client.get(f"/api/v1/deployments/{subscribed.pk}/entitlements"),
    ):
        assert (response.status_code, response.json()) == (403, {"error": "forbidden"})
    assert CloudResource.objects.count() == 1
    assert row(resource)["generation"] == 1


def test_patch_delete_and_the_pending_list_cost_a_fixed_number_of_queries(
    subscribed, tenant_client, controller_client, django_assert_max_num_queries
):
    resources = [make_resource(subscribed, name=f"r{i}", kind="seats", qty=1) for i in range(4)]
    tenant_client.get("/api/v1/me")  # the tokens' first use writes their last_used_at
    controller_client.get("/api/v1/me")
    # token; the resource in scope; SAVEPOINT; the deployment locked through
    # the resource; the resource locked; the entitlements (quotas, add-on
    # sums, resource sums: a grow); UPDATE; the event; RELEASE
    with django_assert_max_num_queries(11):
        response = patch_json(tenant_client, resource_url(resources[0]), {"qty": 2})
    assert response.status_code == 200
    # token; SAVEPOINT; the deployment locked; the resource locked; UPDATE;
    # the event; RELEASE
    with django_assert_max_num_queries(7):
        response = tenant_client.delete(resource_url(resources[1]))
    assert response.status_code == 200
    # token; the page (however many tenants and resources)
    with django_assert_max_num_queries(2):
        response = controller_client.get("/api/v1/resources?pending=true")
    assert len(response.json()["resources"]) == 4
