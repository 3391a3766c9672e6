"""Request ids end to end: on every response, on the events written, in log records."""

from __future__ import annotations

import logging

import pytest
from django.test import override_settings

from tests.reliability.conftest import post_json

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/v1/me", 200),
        ("get", "/api/v1/nope", 404),
        ("delete", "/api/v1/me", 405),
        ("get", "/api/v1/deployments/00000000-0000-0000-0000-000000000000", 404),
        ("get", "/healthz", 200),
        ("get", "/admin/login/", 200),
    ],
)
def test_every_response_carries_the_callers_request_id(tenant_client, method, path, status):
    response = getattr(tenant_client, method)(path, HTTP_X_REQUEST_ID="trace-42")
    assert response.status_code == status
    assert response["X-Request-Id"] == "trace-42"


def test_unauthenticated_oversized_and_malformed_answers_carry_one_too(anon_client, tenant_client):
    assert anon_client.get("/api/v1/me", HTTP_X_REQUEST_ID="a-1")["X-Request-Id"] == "a-1"
    with override_settings(ARCADIA_MAX_BODY_BYTES=10):
        big = post_json(
            tenant_client, "/api/v1/deployments", {"x": "y" * 20}, HTTP_X_REQUEST_ID="b-1"
        )
    assert (big.status_code, big["X-Request-Id"]) == (413, "b-1")
    bad = post_json(tenant_client, "/api/v1/deployments", "{not json", HTTP_X_REQUEST_ID="c-1")
    assert (bad.status_code, bad["X-Request-Id"]) == (400, "c-1")


def test_a_missing_or_unsafe_id_is_replaced_by_a_generated_one(tenant_client):
    ids = {tenant_client.get("/api/v1/me")["X-Request-Id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(len(i) == 32 for i in ids)
    for unsafe in ("x" * 129, "new\nline", "<script>", ""):
        assert tenant_client.get("/api/v1/me", HTTP_X_REQUEST_ID=unsafe)["X-Request-Id"] != unsafe


def test_django_request_log_lines_carry_the_request_id(tenant_client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        tenant_client.get(
            "/api/v1/deployments/00000000-0000-0000-0000-000000000000",
            HTTP_X_REQUEST_ID="log-404",
        )
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records, "Django logs every 4xx on django.request"
    assert {r.request_id for r in records} == {"log-404"}
    # and the configured console format prints it
    from django.conf import settings

    line = logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"]).format(records[0])
    assert "[log-404] Not Found: /api/v1/deployments/" in line


def test_server_error_log_carries_the_request_id(tenant_client, caplog, monkeypatch):
    from deployments.api import views

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "create_deployment", boom)
    with caplog.at_level(logging.ERROR):
        response = post_json(
            tenant_client,
            "/api/v1/deployments",
            {"slug": "web", "display_name": "Web", "region": "us-east-1"},
            HTTP_X_REQUEST_ID="log-500",
        )
    assert (response.status_code, response.json()) == (500, {"error": "server_error"})
    assert response["X-Request-Id"] == "log-500"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors
    assert {r.request_id for r in errors} == {"log-500"}


def test_the_id_does_not_leak_past_the_request(tenant_client, caplog):
    tenant_client.get("/api/v1/me", HTTP_X_REQUEST_ID="gone-after")
    with caplog.at_level(logging.WARNING):
        logging.getLogger("arcadia_cloud.test").warning("outside any request")
    assert caplog.records[-1].request_id == "-"
