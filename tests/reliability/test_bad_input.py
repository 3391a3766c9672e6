"""Bad input never yields a 500: NUL bytes, non-UUID ids, huge and deeply nested
bodies, wrong types. Each answer is a 4xx JSON body and nothing is written."""

from __future__ import annotations

import pytest
from django.test import override_settings

from arcadia_cloud.models import IdempotencyRecord
from deployments.models import Deployment, DeploymentEvent
from tests.reliability.conftest import post_json

pytestmark = pytest.mark.django_db

VALID = {"slug": "web", "display_name": "Web", "region": "us-east-1"}


@pytest.fixture
def nothing_written(deployment):
    before = (
        sorted(Deployment.objects.values_list("id", "state", "updated_at")),
        DeploymentEvent.objects.count(),
    )
    yield
    after = (
        sorted(Deployment.objects.values_list("id", "state", "updated_at")),
        DeploymentEvent.objects.count(),
    )
    assert after == before
    assert IdempotencyRecord.objects.count() == 0


def _json_4xx(response, status=None):
    assert 400 <= response.status_code < 500, response.content
    if status is not None:
        assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert "error" in response.json()
    return response.json()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/deployments/%00",
        "/api/v1/deployments/not-a-uuid",
        "/api/v1/deployments/12345",
        "/api/v1/deployments/00000000-0000-0000-0000-00000000000g",
        "/api/v1/deployments/00000000-0000-0000-0000-000000000000%00",
        "/api/v1/deployments/%00/events",
        "/api/v1/deployments/%F0%9F%92%A5/events",
        "/api/v1/deployments/" + "a" * 5000,
    ],
)
def test_bad_ids_are_404(tenant_client, nothing_written, path):
    assert _json_4xx(tenant_client.get(path), 404) == {"error": "not_found"}
    assert _json_4xx(post_json(tenant_client, path, {"to_state": "paused"}), 404)


@pytest.mark.parametrize(
    "query",
    [
        "state=%00",
        "region=us%00east",
        "tenant_id=%00",
        "tenant_id=not-a-uuid",
        "limit=%00",
        "limit=-1",
        "limit=1e9",
        "offset=%00",
        "state=nope",
    ],
)
def test_bad_query_values_are_400(tenant_client, nothing_written, query):
    _json_4xx(tenant_client.get(f"/api/v1/deployments?{query}"), 400)


def test_bad_event_cursor_is_400(tenant_client, deployment, nothing_written):
    for cursor in ("not-base64", "cD0xMjM%00", "%00%00%00%00x"):
        _json_4xx(
            tenant_client.get(f"/api/v1/deployments/{deployment.pk}/events?cursor={cursor}"),
            400,
        )


@pytest.mark.parametrize(
    "body",
    [
        {**VALID, "slug": "we\x00b"},
        {**VALID, "display_name": "Web\x00"},
        {**VALID, "region": "us-east-1\x00"},
        {**VALID, "template_code": "\x00"},
        {**VALID, "tenant_id": "\x00"},
    ],
)
def test_nul_bytes_in_create_bodies_are_refused(tenant_client, nothing_written, body):
    _json_4xx(post_json(tenant_client, "/api/v1/deployments", body))


@pytest.mark.parametrize("field", ["to_state", "reason", "notes", "expected_state"])
def test_nul_bytes_in_transition_bodies_are_refused(
    tenant_client, deployment, nothing_written, field
):
    body = {"to_state": "paused", field: "pa\x00used"}
    _json_4xx(post_json(tenant_client, f"/api/v1/deployments/{deployment.pk}/transition", body))


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"\x00",
        b'{"slug": "\\u0000"}',
        b"\xff\xfe\xfd",
        b"[]",
        b"null",
        b"42",
        b'"string"',
        b'{"slug": ["web"], "display_name": {"a": 1}, "region": 5}',
        b'{"slug": 1e999, "display_name": NaN, "region": Infinity}',
    ],
)
def test_malformed_or_mistyped_bodies_are_4xx(tenant_client, deployment, nothing_written, raw):
    _json_4xx(post_json(tenant_client, "/api/v1/deployments", raw))
    _json_4xx(post_json(tenant_client, f"/api/v1/deployments/{deployment.pk}/transition", raw))


@pytest.mark.parametrize("depth", [100, 2_000, 30_000])
def test_deeply_nested_bodies_are_4xx(tenant_client, deployment, nothing_written, depth):
    nested = b'{"to_state": ' + b"[" * depth + b"]" * depth + b"}"
    response = post_json(tenant_client, f"/api/v1/deployments/{deployment.pk}/transition", nested)
    _json_4xx(response)
    keyed = post_json(
        tenant_client,
        "/api/v1/deployments",
        b"[" * depth + b"]" * depth,
        HTTP_IDEMPOTENCY_KEY="deep",
    )
    _json_4xx(keyed)


def test_huge_body_is_413_before_parsing(tenant_client, nothing_written):
    huge = {**VALID, "display_name": "x" * (64 * 1024)}
    body = _json_4xx(post_json(tenant_client, "/api/v1/deployments", huge), 413)
    assert body == {"error": "payload_too_large", "max_bytes": 64 * 1024}


@override_settings(ARCADIA_MAX_BODY_BYTES=100)
def test_huge_body_with_an_idempotency_key_is_413_and_not_recorded(tenant_client, nothing_written):
    huge = {**VALID, "display_name": "x" * 200}
    _json_4xx(post_json(tenant_client, "/api/v1/deployments", huge, HTTP_IDEMPOTENCY_KEY="k"), 413)


def test_wrong_content_type_is_415(tenant_client, nothing_written):
    response = tenant_client.post("/api/v1/deployments", data="slug=web", content_type="text/plain")
    assert _json_4xx(response, 415) == {
        "error": "unsupported_media_type",
        "detail": "Send application/json.",
    }
