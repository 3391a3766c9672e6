"""JSON-only error bodies, /me per role, /healthz, schema and docs, request ids, body limit."""

import pytest
from django.test import override_settings


@pytest.mark.django_db
def test_me_for_tenant_identity(tenant_client, tenant):
    body = tenant_client.get("/api/v1/me").json()
    assert body == {"email": "owner@acme.example", "tenant_id": str(tenant.id), "roles": []}


@pytest.mark.django_db
def test_me_for_platform_admin(admin_client_api):
    body = admin_client_api.get("/api/v1/me").json()
    assert body == {
        "email": "admin@arcadia.example",
        "tenant_id": None,
        "roles": ["platform_admin"],
    }


@pytest.mark.django_db
def test_unknown_api_route_is_json_404(tenant_client, anon_client):
    for client in (tenant_client, anon_client):
        response = client.get("/api/v1/no-such-thing")
        assert response.status_code == 404
        assert response.json() == {"error": "not_found"}


@pytest.mark.django_db
def test_wrong_method_is_json_405(tenant_client):
    response = tenant_client.delete("/api/v1/me")
    assert response.status_code == 405
    assert response.json() == {"error": "method_not_allowed"}


@pytest.mark.django_db
def test_non_uuid_id_is_json_404(tenant_client):
    response = tenant_client.get("/api/v1/deployments/not-a-uuid")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found"}


@pytest.mark.django_db
def test_healthz_checks_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db
def test_schema_and_docs_are_served(client):
    schema = client.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert b"/api/v1/deployments" in schema.content
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
    # served from our own static files, never a CDN
    assert b"cdn.jsdelivr" not in docs.content
    assert b"unpkg" not in docs.content


@pytest.mark.django_db
def test_request_id_is_echoed_or_generated(tenant_client):
    echoed = tenant_client.get("/api/v1/me", HTTP_X_REQUEST_ID="req-123")
    assert echoed["X-Request-Id"] == "req-123"
    generated = tenant_client.get("/api/v1/me")
    assert len(generated["X-Request-Id"]) == 32
    junk = tenant_client.get("/api/v1/me", HTTP_X_REQUEST_ID="bad id with spaces")
    assert junk["X-Request-Id"] != "bad id with spaces"


@pytest.mark.django_db
@override_settings(ARCADIA_MAX_BODY_BYTES=1024)
def test_oversized_body_is_413_and_changes_nothing(tenant_client):
    from deployments.models import Deployment

    body = '{"slug": "big", "display_name": "' + "x" * 2000 + '", "region": "us-east-1"}'
    response = tenant_client.post("/api/v1/deployments", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert not Deployment.objects.exists()


@pytest.mark.django_db
def test_malformed_json_is_400(tenant_client):
    response = tenant_client.post("/api/v1/deployments", "{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"


@pytest.mark.django_db
def test_non_json_content_type_is_415(tenant_client):
    response = tenant_client.post("/api/v1/deployments", "slug=x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
