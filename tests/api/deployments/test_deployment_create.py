"""POST /api/v1/deployments: 201 with the first event; 422 bodies that name the
field; nothing written on a refusal."""

from __future__ import annotations

import pytest

from deployments.models import Deployment, DeploymentEvent
from tests.factories import make_deployment

VALID = {"slug": "shop", "display_name": "The Shop", "region": "us-east-1"}


def post(client, **changes):
    return client.post("/api/v1/deployments", {**VALID, **changes}, format="json")


@pytest.mark.django_db
def test_create_answers_201_active_with_the_first_event(tenant_client, tenant, tenant_identity):
    response = tenant_client.post(
        "/api/v1/deployments",
        {**VALID, "llm_mode": "byok", "template_code": "wordpress", "template_version": "6.5"},
        format="json",
        HTTP_X_REQUEST_ID="create-1",
    )
    assert response.status_code == 201, response.content
    body = response.json()["deployment"]
    row = Deployment.objects.get()
    assert body["id"] == str(row.pk)
    assert body["tenant_id"] == str(tenant.pk)
    assert body["state"] == row.state == "active"
    assert (body["slug"], body["display_name"], body["region"]) == ("shop", "The Shop", "us-east-1")
    assert (body["llm_mode"], body["template_code"], body["template_version"]) == (
        "byok",
        "wordpress",
        "6.5",
    )
    assert body["billing_action_suspended"] is False
    assert set(body["allowed_transitions"]) == {"paused", "cancelled"}
    assert body["state_since"].endswith("Z")
    event = DeploymentEvent.objects.get()
    assert (event.deployment_id, event.from_state, event.to_state) == (row.pk, None, "active")
    assert event.actor == tenant_identity.email
    assert event.request_id == "create-1"
    assert event.occurred_at == row.state_since == row.created_at


@pytest.mark.django_db
def test_defaults(tenant_client):
    response = post(tenant_client)
    assert response.status_code == 201
    body = response.json()["deployment"]
    assert body["llm_mode"] == "managed"
    assert body["template_code"] is None
    assert body["template_version"] is None
    row = Deployment.objects.get(pk=body["id"])
    assert (row.llm_mode, row.template_code, row.template_version) == ("managed", None, None)


@pytest.mark.django_db
def test_duplicate_slug_in_the_tenant_is_422(tenant_client, tenant):
    make_deployment(tenant, slug="shop")
    response = post(tenant_client)
    assert response.status_code == 422
    assert list(response.json()["error"]) == ["slug"]
    assert Deployment.objects.count() == 1
    assert DeploymentEvent.objects.count() == 1


@pytest.mark.django_db
def test_same_slug_in_another_tenant_is_fine(tenant_client, other_tenant):
    make_deployment(other_tenant, slug="shop")
    assert post(tenant_client).status_code == 201
    assert Deployment.objects.filter(slug="shop").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"slug": "Shop"}, "slug"),
        ({"slug": "-shop"}, "slug"),
        ({"slug": "shop-"}, "slug"),
        ({"slug": "s" * 64}, "slug"),
        ({"slug": "sh_op"}, "slug"),
        ({"slug": "shöp"}, "slug"),
        ({"slug": ""}, "slug"),
        ({"slug": None}, "slug"),
        ({"region": "mars-1"}, "region"),
        ({"region": ["us-east-1"]}, "region"),
        ({"llm_mode": "magic"}, "llm_mode"),
        ({"llm_mode": None}, "llm_mode"),
        ({"display_name": ""}, "display_name"),
        ({"display_name": "   "}, "display_name"),
        ({"display_name": "x" * 201}, "display_name"),
        ({"display_name": {"a": 1}}, "display_name"),
        ({"display_name": "nul\x00byte"}, "display_name"),
        ({"slug": "nul\x00"}, "slug"),
        ({"template_code": "t" * 101}, "template_code"),
        ({"tenant_id": "not-a-uuid"}, "tenant_id"),
    ],
)
def test_bad_fields_are_422_naming_the_field_and_write_nothing(tenant_client, changes, field):
    response = post(tenant_client, **changes)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert field in error
    assert all(isinstance(m, str) for m in error[field])
    assert not Deployment.objects.exists()
    assert not DeploymentEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("missing", ["slug", "display_name", "region"])
def test_missing_required_field_is_422(tenant_client, missing):
    data = {k: v for k, v in VALID.items() if k != missing}
    response = tenant_client.post("/api/v1/deployments", data, format="json")
    assert response.status_code == 422
    assert missing in response.json()["error"]
    assert not Deployment.objects.exists()


@pytest.mark.django_db
def test_63_character_slug_and_200_character_name_are_fine(tenant_client):
    response = post(tenant_client, slug="a" * 63, display_name="n" * 200)
    assert response.status_code == 201
    assert Deployment.objects.get().slug == "a" * 63


@pytest.mark.django_db
@pytest.mark.parametrize("payload", [[VALID], "shop", 1, None])
def test_non_object_body_is_4xx_and_writes_nothing(tenant_client, payload):
    response = tenant_client.post("/api/v1/deployments", payload, format="json")
    assert 400 <= response.status_code < 500
    assert "error" in response.json()
    assert not Deployment.objects.exists()


@pytest.mark.django_db
def test_platform_admin_must_name_the_tenant(admin_client_api):
    response = post(admin_client_api)
    assert response.status_code == 422
    assert list(response.json()["error"]) == ["tenant_id"]
    assert not Deployment.objects.exists()


@pytest.mark.django_db
def test_platform_admin_naming_an_unknown_tenant_is_422(admin_client_api):
    response = post(admin_client_api, tenant_id="00000000-0000-0000-0000-000000000000")
    assert response.status_code == 422
    assert list(response.json()["error"]) == ["tenant_id"]
    assert not Deployment.objects.exists()


@pytest.mark.django_db
def test_platform_admin_creates_in_any_tenant(admin_client_api, other_tenant, platform_admin):
    response = post(admin_client_api, tenant_id=str(other_tenant.pk))
    assert response.status_code == 201
    row = Deployment.objects.get()
    assert row.tenant_id == other_tenant.pk
    assert set(response.json()["deployment"]["allowed_transitions"]) == {
        "past_due",
        "suspended",
        "paused",
        "cancelled",
    }
    assert DeploymentEvent.objects.get().actor == platform_admin.email


@pytest.mark.django_db
@pytest.mark.parametrize("tenant_id", [5, True, ["x"], {"id": 1}])
def test_tenant_id_of_the_wrong_type_is_422_and_writes_nothing(tenant_client, tenant_id):
    # Types are strict: an integer is not read as UUID(int=...).
    response = post(tenant_client, tenant_id=tenant_id)
    assert response.status_code == 422, response.content
    assert "tenant_id" in response.json()["error"]
    assert not Deployment.objects.exists()
