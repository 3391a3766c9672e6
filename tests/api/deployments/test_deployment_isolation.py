"""Tenant isolation on every deployment route: another tenant's deployment answers
exactly like an id that does not exist; a platform admin sees every tenant."""

from __future__ import annotations

import uuid

import pytest

from deployments.models import Deployment
from tests.deployments.helpers import snapshot
from tests.factories import make_deployment

NOT_FOUND = {"error": "not_found"}


def _routes(deployment_id) -> list[tuple[str, str, dict | None]]:
    base = f"/api/v1/deployments/{deployment_id}"
    return [
        ("get", base, None),
        ("get", f"{base}/events", None),
        ("post", f"{base}/transition", {"to_state": "paused"}),
        ("post", f"{base}/transition", {"to_state": "cancelled", "expected_state": "active"}),
    ]


def _call(client, method, path, data):
    if method == "post":
        return client.post(path, data, format="json")
    return client.get(path)


@pytest.mark.django_db
def test_foreign_deployment_is_404_like_a_random_id_on_every_route(
    tenant_client, foreign_deployment
):
    before = snapshot(foreign_deployment)
    for (method, path, data), (_, random_path, _) in zip(
        _routes(foreign_deployment.pk), _routes(uuid.uuid4()), strict=True
    ):
        foreign = _call(tenant_client, method, path, data)
        missing = _call(tenant_client, method, random_path, data)
        assert (foreign.status_code, foreign.json()) == (404, NOT_FOUND), path
        assert (missing.status_code, missing.json()) == (404, NOT_FOUND), random_path
        assert foreign.content == missing.content
    assert snapshot(foreign_deployment) == before


@pytest.mark.django_db
def test_list_shows_only_own_tenant(tenant_client, deployment, foreign_deployment):
    body = tenant_client.get("/api/v1/deployments").json()
    assert [d["id"] for d in body["deployments"]] == [str(deployment.pk)]
    assert body["count"] == 1


@pytest.mark.django_db
def test_list_filtered_by_another_tenant_is_empty_like_a_random_tenant(
    tenant_client, other_tenant, foreign_deployment
):
    foreign = tenant_client.get(f"/api/v1/deployments?tenant_id={other_tenant.pk}")
    random = tenant_client.get(f"/api/v1/deployments?tenant_id={uuid.uuid4()}")
    assert foreign.status_code == random.status_code == 200
    empty = {"deployments": [], "count": 0, "next": None, "previous": None}
    assert foreign.json() == random.json() == empty


@pytest.mark.django_db
def test_create_in_another_tenant_is_403_and_writes_nothing(tenant_client, other_tenant):
    response = tenant_client.post(
        "/api/v1/deployments",
        {
            "slug": "sneaky",
            "display_name": "Sneaky",
            "region": "us-east-1",
            "tenant_id": str(other_tenant.pk),
        },
        format="json",
    )
    assert response.status_code == 403
    assert response.json() == {"error": "forbidden"}
    assert not Deployment.objects.exists()


@pytest.mark.django_db
def test_create_naming_own_tenant_is_fine(tenant_client, tenant):
    response = tenant_client.post(
        "/api/v1/deployments",
        {
            "slug": "mine",
            "display_name": "Mine",
            "region": "us-east-1",
            "tenant_id": str(tenant.pk),
        },
        format="json",
    )
    assert response.status_code == 201
    assert Deployment.objects.get().tenant_id == tenant.pk


@pytest.mark.django_db
def test_platform_admin_sees_and_moves_every_tenant(
    admin_client_api, deployment, foreign_deployment, tenant, other_tenant
):
    listed = admin_client_api.get("/api/v1/deployments").json()
    assert {d["id"] for d in listed["deployments"]} == {
        str(deployment.pk),
        str(foreign_deployment.pk),
    }
    only_other = admin_client_api.get(f"/api/v1/deployments?tenant_id={other_tenant.pk}").json()
    assert [d["id"] for d in only_other["deployments"]] == [str(foreign_deployment.pk)]
    for d in (deployment, foreign_deployment):
        assert admin_client_api.get(f"/api/v1/deployments/{d.pk}").status_code == 200
        assert admin_client_api.get(f"/api/v1/deployments/{d.pk}/events").status_code == 200
        moved = admin_client_api.post(
            f"/api/v1/deployments/{d.pk}/transition", {"to_state": "suspended"}, format="json"
        )
        assert moved.status_code == 200
    assert set(Deployment.objects.values_list("state", flat=True)) == {"suspended"}


@pytest.mark.django_db
def test_other_tenant_identity_sees_only_its_own(other_client, deployment, foreign_deployment):
    body = other_client.get("/api/v1/deployments").json()
    assert [d["id"] for d in body["deployments"]] == [str(foreign_deployment.pk)]
    assert other_client.get(f"/api/v1/deployments/{deployment.pk}").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/v1/deployments", "/api/v1/deployments/{id}", "/api/v1/deployments/{id}/events"]
)
def test_routes_need_a_token(anon_client, deployment, path):
    response = anon_client.get(path.format(id=deployment.pk))
    assert response.status_code == 401
    assert response.json() == {"error": "unauthenticated"}


@pytest.mark.django_db
def test_anonymous_cannot_create_or_transition(anon_client, tenant):
    deployment = make_deployment(tenant)
    before = snapshot(deployment)
    created = anon_client.post(
        "/api/v1/deployments",
        {"slug": "x", "display_name": "X", "region": "us-east-1"},
        format="json",
    )
    moved = anon_client.post(
        f"/api/v1/deployments/{deployment.pk}/transition", {"to_state": "paused"}, format="json"
    )
    assert created.status_code == moved.status_code == 401
    assert Deployment.objects.count() == 1
    assert snapshot(deployment) == before
