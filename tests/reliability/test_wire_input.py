"""What the client controls before any view runs: the charset, a chunked body,
NUL bytes and lone surrogates in the path, query, headers and body, and errors
raised inside middleware. Every case is a 4xx (JSON under /api/) that writes
nothing, never a 500.

Charsets and chunked bodies are decided while Django builds the request, before
any middleware, so those cases go through the project's WSGI application itself
(`arcadia_cloud.wsgi.application`, what gunicorn and runserver serve), not
through Django's test client, which builds its own request.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core import signals
from django.db import close_old_connections
from django.test import override_settings
from rest_framework.test import APIClient

from arcadia_cloud.models import IdempotencyRecord
from deployments.models import Deployment, DeploymentEvent
from tests.factories import token_for
from tests.reliability.conftest import post_json

pytestmark = pytest.mark.django_db

VALID = {"slug": "web", "display_name": "Web", "region": "us-east-1"}

# Codecs that are no text encoding, unknown names, and text encodings that do
# not read ASCII as ASCII (or decode escapes into lone surrogates).
BAD_CHARSETS = [
    "rot13",
    "zlib",
    "base64",
    "hex",
    "bz2_codec",
    "uu",
    "punycode",
    "no-such-charset",
    "utf-7",
    "unicode_escape",
    "utf-16",
    "cp037",
]


class Trickle(io.BytesIO):
    """An input that hands out a few bytes per read, as a socket may."""

    def read(self, size=-1):
        return super().read(3 if size is None or size < 0 else min(size, 3))


@pytest.fixture
def wsgi(db):
    """Call the project's WSGI application in process, inside the test's
    transaction (the request signals must not close the test's connection)."""
    from arcadia_cloud.wsgi import application

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)

    def call(
        method,
        path,
        *,
        query="",
        headers=None,
        body=b"",
        chunked=False,
        terminated=True,
        trickle=False,
    ):
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": (Trickle if trickle else io.BytesIO)(body),
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        if chunked:
            environ["HTTP_TRANSFER_ENCODING"] = "chunked"
            if terminated:
                environ["wsgi.input_terminated"] = True
        elif body:
            environ["CONTENT_LENGTH"] = str(len(body))
        for name, value in (headers or {}).items():
            key = name.upper().replace("-", "_")
            environ[key if key in ("CONTENT_TYPE",) else f"HTTP_{key}"] = value
        answer = {}

        def start_response(status, response_headers, exc_info=None):
            answer["status"] = int(status.split()[0])
            answer["headers"] = dict(response_headers)

        chunks = application(environ, start_response)
        try:
            answer["body"] = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return answer

    yield call
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(tenant_identity):
    return token_for(tenant_identity)


def _json(answer, status):
    assert answer["status"] == status, answer
    assert answer["headers"]["Content-Type"].startswith("application/json"), answer
    assert answer["headers"]["X-Request-Id"]
    return json.loads(answer["body"])


def _written():
    return (
        Deployment.objects.count(),
        DeploymentEvent.objects.count(),
        IdempotencyRecord.objects.count(),
    )


# ---- charsets -----------------------------------------------------------------


@pytest.mark.parametrize("charset", BAD_CHARSETS)
def test_an_unusable_charset_is_400_on_every_route(wsgi, token, deployment, charset):
    before = _written()
    content_type = f"text/plain; charset={charset}"
    health = wsgi("GET", "/healthz", query="x=1", headers={"Content-Type": content_type})
    assert health["status"] == 400, health
    assert health["headers"]["Content-Type"].startswith("text/plain")
    assert charset.encode() in health["body"]

    me = wsgi(
        "GET",
        "/api/v1/me",
        query="x=1",
        headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"},
    )
    assert list(_json(me, 400)["detail"]) == ["Content-Type"]

    create = wsgi(
        "POST",
        "/api/v1/deployments",
        body=json.dumps(VALID).encode(),
        headers={
            "Content-Type": f"application/json; charset={charset}",
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": "charset",
        },
    )
    assert _json(create, 400)["error"] == "bad_request"
    admin = wsgi("GET", "/admin/", query="x=1", headers={"Content-Type": content_type})
    assert admin["status"] == 400
    assert _written() == before


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8", "latin-1", "us-ascii"])
def test_a_usable_charset_is_read(wsgi, token, charset):
    health = wsgi(
        "GET", "/healthz", query="x=1", headers={"Content-Type": f"text/plain; charset={charset}"}
    )
    assert health["status"] == 200, health
    create = wsgi(
        "POST",
        "/api/v1/deployments",
        body=json.dumps(VALID).encode(),
        headers={
            "Content-Type": f"application/json; charset={charset}",
            "Authorization": f"Bearer {token}",
        },
    )
    assert _json(create, 201)["deployment"]["slug"] == "web"


# ---- chunked bodies -------------------------------------------------------------


@pytest.mark.parametrize("trickle", [False, True], ids=["whole", "in-short-reads"])
def test_a_chunked_body_is_read(wsgi, token, tenant, trickle):
    answer = wsgi(
        "POST",
        "/api/v1/deployments",
        body=json.dumps(VALID).encode(),
        chunked=True,
        trickle=trickle,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    body = _json(answer, 201)
    assert Deployment.objects.get(pk=body["deployment"]["id"]).tenant_id == tenant.pk


@override_settings(ARCADIA_MAX_BODY_BYTES=1000)
def test_a_chunked_body_past_the_limit_is_413(wsgi, token):
    huge = json.dumps({**VALID, "display_name": "x" * 2000}).encode()
    answer = wsgi(
        "POST",
        "/api/v1/deployments",
        body=huge,
        chunked=True,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    assert _json(answer, 413) == {"error": "payload_too_large", "max_bytes": 1000}
    assert _written() == (0, 0, 0)


def test_a_chunked_body_the_server_cannot_terminate_is_411(wsgi, token):
    answer = wsgi(
        "POST",
        "/api/v1/deployments",
        body=b"5\r\nhello\r\n0\r\n\r\n",
        chunked=True,
        terminated=False,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    assert _json(answer, 411)["error"] == "length_required"
    assert _written() == (0, 0, 0)


# ---- NUL bytes and lone surrogates -----------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"slug": "web", "display_name": "Web", "region": "us-east-1", "llm_mode": "\\ud800"}',
        b'{"slug": "web", "display_name": "W\\udfffeb", "region": "us-east-1"}',
        b'{"slug": "web", "display_name": "Web", "region": "us-east-1", "\\ud800": 1}',
        b'{"slug": "web", "display_name": "Web", "region": "us-east-1", "x": [["\\udc00"]]}',
        b'{"slug": "web", "display_name": "Web", "region": "\\ude00\\ud83d"}',
    ],
)
def test_a_lone_surrogate_in_a_body_is_400(tenant_client, deployment, raw):
    before = _written()
    for headers in ({}, {"HTTP_IDEMPOTENCY_KEY": "surrogate"}):
        response = post_json(tenant_client, "/api/v1/deployments", raw, **headers)
        assert response.status_code == 400, response.content
        assert response.json()["error"] == "malformed_json"
        transition = post_json(
            tenant_client,
            f"/api/v1/deployments/{deployment.pk}/transition",
            raw.replace(b'"slug"', b'"to_state": "paused", "s"'),
            **headers,
        )
        assert transition.status_code == 400, transition.content
    assert _written() == before


def test_a_surrogate_pair_is_one_character_and_accepted(tenant_client):
    raw = b'{"slug": "web", "display_name": "Web \\ud83d\\ude00", "region": "us-east-1"}'
    response = post_json(tenant_client, "/api/v1/deployments", raw)
    assert response.status_code == 201, response.content
    assert Deployment.objects.get().display_name == "Web \U0001f600"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/%00",
        "/api/v1/deployments/%00",
        "/api/v1/deployments/00000000-0000-0000-0000-000000000000%00",
        "/api/v1/deployments/%00/events",
        "/api/v1/deployments%00",
    ],
)
def test_a_nul_in_an_api_path_is_404_also_with_an_idempotency_key(tenant_client, path):
    # No route matches it, like an id that is not a UUID; the idempotency
    # middleware must not try to store it either.
    for headers in ({}, {"HTTP_IDEMPOTENCY_KEY": "k1"}):
        response = post_json(tenant_client, path, VALID, **headers)
        assert response.status_code == 404, response.content
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"error": "not_found"}
        assert tenant_client.get(path).json() == {"error": "not_found"}
    assert _written() == (0, 0, 0)


@pytest.mark.parametrize(
    ("query", "named"), [("x=%00", "x"), ("%00=1", "query"), ("limit=1&cursor=a%00b", "cursor")]
)
def test_a_nul_in_an_api_query_is_400(tenant_client, query, named):
    response = tenant_client.get(f"/api/v1/deployments?{query}")
    assert response.status_code == 400, response.content
    assert list(response.json()["detail"]) == [named]


@pytest.mark.parametrize(
    ("header", "route"),
    [
        ("HTTP_X_REQUEST_ID", "/api/v1/me"),
        ("HTTP_ACCEPT", "/api/v1/me"),
        ("HTTP_USER_AGENT", "/healthz"),
        ("HTTP_COOKIE", "/admin/"),
        ("HTTP_IDEMPOTENCY_KEY", "/api/v1/deployments"),
    ],
)
def test_a_nul_in_a_header_is_400(tenant_client, header, route):
    response = tenant_client.post(
        route, data=json.dumps(VALID), content_type="application/json", **{header: "a\x00b"}
    )
    assert response.status_code == 400, response.content
    assert _written() == (0, 0, 0)


def test_a_nul_in_a_session_cookie_is_not_a_500(client):
    client.cookies["sessionid"] = "abcdefgh\x00ijkl"
    assert client.get("/admin/").status_code == 400


# ---- errors raised inside middleware are JSON under /api/ -------------------------


def test_an_error_inside_the_idempotency_middleware_is_json(tenant_identity, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("record store broken")

    monkeypatch.setattr(IdempotencyRecord.objects, "create", broken)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(tenant_identity)}")
    response = post_json(client, "/api/v1/deployments", VALID, HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "server_error"}
    assert response["X-Request-Id"]
    assert _written() == (0, 0, 0)
