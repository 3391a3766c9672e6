"""The OpenAPI document describes what the server enforces, so generated clients
and fuzzers send requests the server accepts: bounds of `limit` and `offset`,
the shape of cursors and of `Idempotency-Key`, the regions (read from the
settings when the document is served), links from a created deployment to its
other operations, examples. Each described bound is also checked against the
server: one value inside is accepted, one outside refused."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings

from arcadia_cloud.api.idempotency import parse_key

pytestmark = pytest.mark.django_db


def _document(client) -> dict:
    response = client.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def _operations(document) -> dict[str, dict]:
    return {
        operation["operationId"]: operation
        for operations in document["paths"].values()
        for operation in operations.values()
    }


def _parameter(operation, name) -> dict:
    (found,) = [p for p in operation["parameters"] if p["name"] == name]
    return found


def _resolve(document, schema: dict) -> dict:
    while "$ref" in schema or "allOf" in schema:
        ref = schema["$ref"] if "$ref" in schema else schema["allOf"][0]["$ref"]
        schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def test_limit_and_offset_have_the_bounds_the_server_enforces(client, tenant_client, deployment):
    operations = _operations(_document(client))
    for operation_id in ("deployments_list", "deployments_events"):
        limit = _parameter(operations[operation_id], "limit")["schema"]
        assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, 500)
    offset = _parameter(operations["deployments_list"], "offset")["schema"]
    assert (offset["minimum"], offset["maximum"]) == (0, 10**9)
    events = f"/api/v1/deployments/{deployment.pk}/events"
    for path in ("/api/v1/deployments", events):
        assert tenant_client.get(f"{path}?limit=500").status_code == 200
        assert tenant_client.get(f"{path}?limit=501").status_code == 400
        assert tenant_client.get(f"{path}?limit=0").status_code == 400
    assert tenant_client.get(f"/api/v1/deployments?offset={10**9}").status_code == 200
    assert tenant_client.get(f"/api/v1/deployments?offset={10**9 + 1}").status_code == 400


def test_cursors_have_a_published_shape_and_the_server_writes_it(client, tenant_client, deployment):
    cursor = _parameter(_operations(_document(client))["deployments_events"], "cursor")["schema"]
    pattern = re.compile(cursor["pattern"])
    events = f"/api/v1/deployments/{deployment.pk}/events"
    deployment.events.model.objects.bulk_create(
        [
            deployment.events.model(deployment=deployment, to_state="active", actor="system:tests")
            for _ in range(3)
        ]
    )
    page = tenant_client.get(f"{events}?limit=1").json()
    written = page["next"].split("cursor=")[1].split("&")[0]
    assert pattern.match(written), written
    assert tenant_client.get(f"{events}?cursor={written}").status_code == 200
    for junk in ("n", "x5", "n-1", "nabc", "n1234567890123456789", "r", "currency"):
        assert not pattern.match(junk)
        assert tenant_client.get(f"{events}?cursor={junk}").status_code == 400, junk


def test_every_post_publishes_the_idempotency_key_shape(client):
    document = _document(client)
    for operations in document["paths"].values():
        for method, operation in operations.items():
            if method != "post":
                continue
            key = _parameter(operation, "Idempotency-Key")["schema"]
            pattern = re.compile(key["pattern"])
            for value in ("k1", "a" * 255, "!~", '""', '"quoted"'):
                assert pattern.match(value)
                assert parse_key(value) is not None, value
            for value in ("", "has space", "é", "a" * 256):
                assert not pattern.match(value)
                assert parse_key(value) is None, value


@override_settings(ARCADIA_REGIONS=["eu-north-1", "us-east-2"])
def test_regions_are_the_configured_ones(client, tenant_client):
    document = _document(client)
    body = document["components"]["schemas"]["DeploymentCreateInRequest"]
    assert _resolve(document, body["properties"]["region"])["enum"] == ["eu-north-1", "us-east-2"]
    create = {"slug": "web", "display_name": "Web"}
    assert (
        tenant_client.post(
            "/api/v1/deployments", {**create, "region": "eu-north-1"}, format="json"
        ).status_code
        == 201
    )
    refused = tenant_client.post(
        "/api/v1/deployments", {**create, "slug": "web2", "region": "us-east-1"}, format="json"
    )
    assert refused.status_code == 422
    assert "region" in refused.json()["error"]


def test_a_created_deployment_links_to_its_operations(client):
    operations = _operations(_document(client))
    links = operations["deployments_create"]["responses"]["201"]["links"]
    targets = {link["operationId"]: link["parameters"] for link in links.values()}
    assert targets == {
        "deployments_show": {"id": "$response.body#/deployment/id"},
        "deployments_events": {"id": "$response.body#/deployment/id"},
        "deployments_transition": {"id": "$response.body#/deployment/id"},
        "deployments_subscribe": {"id": "$response.body#/deployment/id"},
        "deployments_resources_list": {"id": "$response.body#/deployment/id"},
        "deployments_resources_create": {"id": "$response.body#/deployment/id"},
        "deployments_entitlements": {"id": "$response.body#/deployment/id"},
    }
    subscribed = operations["deployments_subscribe"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in subscribed.values()} >= {
        "deployments_subscription_attach_addon",
        "deployments_subscription_change_plan",
    }
    for link in links.values():
        assert link["operationId"] in operations


def test_a_created_resource_links_to_its_operations(client):
    operations = _operations(_document(client))
    links = operations["deployments_resources_create"]["responses"]["201"]["links"]
    assert {link["operationId"]: link["parameters"] for link in links.values()} == {
        operation: {"resource_id": "$response.body#/resource/id"}
        for operation in ("resources_show", "resources_update", "resources_delete")
    }


def test_resource_parameters_have_the_bounds_the_server_enforces(client, tenant_client, deployment):
    from deployments.models import RESOURCE_KIND_PATTERN, SLUG_PATTERN

    document = _document(client)
    operations = _operations(document)
    create = operations["deployments_resources_create"]["requestBody"]["content"]
    body = _resolve(document, create["application/json"]["schema"])["properties"]
    assert (body["qty"]["minimum"], body["qty"]["maximum"]) == (1, 2**31 - 1)
    assert body["name"]["pattern"] == SLUG_PATTERN
    assert body["kind"]["pattern"] == RESOURCE_KIND_PATTERN
    assert _resolve(document, body["desired_state"])["enum"] == ["running", "stopped"]
    report = operations["resources_report_status"]["requestBody"]["content"]
    body = _resolve(document, report["application/json"]["schema"])["properties"]
    assert (body["observed_generation"]["minimum"], body["observed_generation"]["maximum"]) == (
        0,
        2**63 - 1,
    )
    listing = operations["resources_list"]
    assert _parameter(listing, "pending")["schema"]["enum"] == ["true", "false"]
    cursor = re.compile(_parameter(listing, "cursor")["schema"]["pattern"])
    import uuid

    written = str(uuid.uuid4())
    assert cursor.match(written)
    assert tenant_client.get(f"/api/v1/resources?cursor={written}").status_code == 200
    for junk in ("n12", "abc", written.upper()):
        assert not cursor.match(junk)
        assert tenant_client.get(f"/api/v1/resources?cursor={junk}").status_code == 400


def test_every_request_body_has_an_example(client):
    for operation_id, operation in _operations(_document(client)).items():
        if "requestBody" not in operation:
            continue
        content = operation["requestBody"]["content"]["application/json"]
        assert content.get("examples"), operation_id
    create = _operations(_document(client))["deployments_create"]
    assert create["responses"]["201"]["content"]["application/json"]["examples"]


def test_a_lost_database_is_documented_on_every_operation(client):
    for operation_id, operation in _operations(_document(client)).items():
        unavailable = operation["responses"]["503"]
        assert "Retry-After" in unavailable["headers"], operation_id
        assert "400" in operation["responses"], operation_id
