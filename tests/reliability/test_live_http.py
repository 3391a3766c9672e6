"""Over real HTTP, as clients reach the servers the project runs: gunicorn
(production) and Django's runserver (`make run`). Chunked bodies and charsets
depend on what the server hands to the application, so they are checked here
and not only in process."""

from __future__ import annotations

import json

import pytest

from deployments.models import Deployment
from tests import live
from tests.conftest import requires_postgres
from tests.factories import token_for

pytestmark = requires_postgres

CREATE = {"slug": "chunked", "display_name": "Sent in chunks", "region": "us-east-1"}


def _chunks(data: bytes, size: int = 7):
    return (data[i : i + size] for i in range(0, len(data), size))


@pytest.fixture
def token(transactional_db, tenant_identity):
    return token_for(tenant_identity)


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_gunicorn_reads_chunked_bodies_within_the_limit(token, tenant):
    with live.gunicorn(ARCADIA_MAX_BODY_BYTES="4096") as port:
        created = live.request(
            port,
            "POST",
            "/api/v1/deployments",
            _chunks(json.dumps(CREATE).encode()),
            _headers(token),
        )
        assert created[0] == 201, created
        deployment = live.json_of(created)["deployment"]
        assert (deployment["slug"], deployment["display_name"]) == ("chunked", "Sent in chunks")
        assert Deployment.objects.get(pk=deployment["id"]).tenant_id == tenant.pk

        huge = json.dumps({**CREATE, "slug": "huge", "display_name": "x" * 70_000}).encode()
        refused = live.request(
            port, "POST", "/api/v1/deployments", _chunks(huge, 8192), _headers(token)
        )
        assert refused[0] == 413, refused
        assert live.json_of(refused) == {"error": "payload_too_large", "max_bytes": 4096}
        assert not Deployment.objects.filter(slug="huge").exists()


def test_runserver_refuses_chunked_bodies_with_411(token):
    with live.runserver() as port:
        refused = live.request(
            port,
            "POST",
            "/api/v1/deployments",
            _chunks(json.dumps(CREATE).encode()),
            _headers(token),
        )
        assert refused[0] == 411, refused
        assert live.json_of(refused)["error"] == "length_required"
        assert not Deployment.objects.exists()


@pytest.mark.parametrize("server", [live.gunicorn, live.runserver], ids=["gunicorn", "runserver"])
def test_an_unusable_charset_is_400_over_http(token, server):
    with server() as port:
        for charset in ("rot13", "zlib", "base64", "utf-7", "no-such-charset"):
            content_type = f"text/plain; charset={charset}"
            health = live.request(port, "GET", "/healthz?x=1", None, {"Content-Type": content_type})
            assert health[0] == 400, health
            assert health[1]["Content-Type"].startswith("text/plain")
            me = live.request(
                port,
                "GET",
                "/api/v1/me?x=1",
                None,
                {"Content-Type": content_type, "Authorization": f"Bearer {token}"},
            )
            assert me[0] == 400, me
            assert list(live.json_of(me)["detail"]) == ["Content-Type"]
        assert (
            live.request(
                port, "GET", "/healthz?x=1", None, {"Content-Type": "text/plain; charset=utf-8"}
            )[0]
            == 200
        )
