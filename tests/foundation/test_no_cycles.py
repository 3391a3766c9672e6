"""An API request's objects are freed when its response is, by reference
counting: no view, request or response is left for the cyclic garbage
collector (`arcadia_cloud.api.middleware.ReleaseViewMiddleware`).

Requests go through Django's WSGI handler itself, as gunicorn calls it: the
test client ties each response to itself in cycles of its own."""

from __future__ import annotations

import gc
import io
import json
import sys
from collections import Counter

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from tests.factories import token_for

pytestmark = pytest.mark.django_db

#: What only a request makes: none of these may be left in a cycle.
REQUEST_OBJECTS = {
    "WSGIRequest",
    "Request",
    "Response",
    "JsonResponse",
    "HttpResponse",
    "ResponseHeaders",
    "HttpHeaders",
    "ResolverMatch",
    "LimitOffsetPagination",
    "JSONRenderer",
    "JSONParser",
}


def _call(method: str, path: str, token: str, body: dict | None = None, query: str = "") -> int:
    raw = json.dumps(body).encode() if body is not None else b""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(raw),
        "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(raw)),
        "CONTENT_TYPE": "application/json",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
    }
    statuses = []
    result = _HANDLER(environ, lambda status, headers, exc_info=None: statuses.append(status))
    b"".join(result)
    result.close()
    return int(statuses[0].split()[0])


_HANDLER = None


def _garbage_of(call) -> tuple[int, Counter]:
    """(status, types of what the cyclic collector finds after `call()` alone).
    Every object there before is held meanwhile, so none of an earlier test's
    can turn into garbage during the call and be counted as the call's."""
    gc.collect()
    before = gc.get_objects()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        status = call()
        del call
        gc.collect()
        found = Counter(type(o).__name__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        del before
    return status, found


@pytest.fixture
def handler():
    global _HANDLER
    _HANDLER = WSGIHandler()
    # as the test client does: the test's transaction keeps its connection
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        _HANDLER = None


#: A request whose body DRF validates with a serializer, or whose query
#: django-filter validates with a form, leaves those libraries' own cycles
#: (a serializer's fields and their parent, a form's bound fields and the
#: query it read): a few dozen small objects, none of the request's.
OWN_CYCLES_ONLY = "own"


@pytest.mark.parametrize(
    ("method", "path", "body", "query", "status", "leaves"),
    [
        ("GET", "/api/v1/me", None, "", 200, None),
        ("GET", "/api/v1/deployments", None, "limit=50", 200, None),
        ("GET", "/api/v1/deployments", None, "limit=0", 400, None),
        ("GET", "/api/v1/deployments/{id}/events", None, "", 200, None),
        # (on SQLite the ORM's compiler leaves a closure of its own here)
        ("GET", "/api/v1/deployments/00000000-0000-0000-0000-000000000000", None, "", 404, "own"),
        ("GET", "/api/v1/plans", None, "", 200, None),
        ("GET", "/api/v1/deployments", None, "state=active&limit=2", 200, OWN_CYCLES_ONLY),
        ("POST", "/api/v1/deployments/{id}/transition", {"to_state": "paused"}, "", 200, "own"),
        ("POST", "/api/v1/deployments/{id}/transition", {"to_state": "archived"}, "", 422, "own"),
    ],
)
def test_an_api_request_leaves_nothing_for_the_collector(
    handler, tenant_identity, method, path, body, query, status, leaves
):
    from tests.factories import make_deployment

    token = token_for(tenant_identity)
    for i in range(3):
        deployment = make_deployment(tenant_identity.tenant, slug=f"app-{i}")
    path = path.replace("{id}", str(deployment.pk))
    _call("GET", "/api/v1/me", token)  # warm: imports, caches
    answered, garbage = _garbage_of(lambda: _call(method, path, token, body, query))
    assert answered == status
    if leaves is None:
        assert garbage == Counter(), garbage
    else:
        assert REQUEST_OBJECTS & set(garbage) == set(), garbage
        assert sum(garbage.values()) < 150, garbage


def test_the_show_leaves_only_its_relation_caches(handler, tenant_identity, seeded):
    """The show's deployment and subscription cache each other (as the ORM's
    select_related does): those few instances may wait for the collector;
    the request's own objects do not."""
    from deployments.services import create_subscription
    from tests.factories import SYSTEM_ACTOR, make_deployment

    token = token_for(tenant_identity)
    deployment = make_deployment(tenant_identity.tenant, slug="shown")
    create_subscription(
        deployment_id=deployment.pk, plan_code="studio", addon_codes=[], actor=SYSTEM_ACTOR
    )
    path = f"/api/v1/deployments/{deployment.pk}"
    _call("GET", path, token)
    answered, garbage = _garbage_of(lambda: _call("GET", path, token))
    assert answered == 200
    assert REQUEST_OBJECTS & set(garbage) == set(), garbage
    assert sum(garbage.values()) < 60, garbage


def test_without_the_release_a_request_is_left_in_cycles(handler, tenant_identity, settings):
    """The check above can fail: with the middleware gone, DRF's cycles stay."""
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if not m.endswith("ReleaseViewMiddleware")
    ]
    global _HANDLER
    _HANDLER = WSGIHandler()
    token = token_for(tenant_identity)
    _call("GET", "/api/v1/me", token)
    answered, garbage = _garbage_of(lambda: _call("GET", "/api/v1/me", token))
    assert answered == 200
    assert {"Request", "Response", "WSGIRequest"} <= set(garbage)
