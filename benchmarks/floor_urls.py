"""The benchmark's floors: what each hot endpoint's SQL costs when a plain
Django view sends it. Bench-only: served by `bench_http.py` through
`floor_settings` (this URLconf = the product's routes + `/api/floor/...`);
the product's own URLconf never routes here.

Each floor authenticates the same bearer token the same way (the product's
token lookup SQL, the digest compared in constant time) and then sends the
SQL its endpoint sends, through a Django cursor, with no serializer, DRF view,
ORM compilation or model instance between the rows and a `json.dumps`:

- `/api/floor/me`: authentication only (the floor of `GET /api/v1/me`);
- `/api/floor/v1/<path>` (GET): the read statements the product sends for
  `/api/v1/<path>`, captured once per process from the product's own view
  (so they are the same SQL text) and replayed as-is;
- `/api/floor/v1/deployments/<id>/transition` (POST): the transition's
  statements (the product's fixed SQL where it has one), in one transaction.

Under `/api/` like the product's routes, so the same middleware runs for both.
"""

from __future__ import annotations

import hmac
import json
import threading
import uuid
from datetime import UTC, datetime

from django.db import connection, transaction
from django.http import HttpResponse
from django.urls import path, re_path, resolve
from django.views.decorators.csrf import csrf_exempt

from arcadia_cloud.auth import TOKEN_LOOKUP_SQL
from arcadia_cloud.db import hot_cursor
from arcadia_cloud.scope import Scope
from arcadia_cloud.services import hash_token
from arcadia_cloud.urls import urlpatterns as product_urlpatterns
from deployments.events import _AUDIT_WITH_SQL
from deployments.resource_events import SHAPE_COLUMNS
from deployments.resources import DRIVES
from deployments.transitions import SUBSCRIPTION_STATUS_FOR_STATE, move_sql
from feed.record import _INSERT_ONE_SQL
from subscriptions.services import status_follow_statement

_lock = threading.Lock()
_captured: dict[str, list[str]] = {}


class Unauthorized(Exception):
    pass


_TOKEN_SQL = TOKEN_LOOKUP_SQL  # the product's own statement


def _authenticate(request) -> dict:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.startswith("arc_"):
        raise Unauthorized
    digest = hash_token(raw)
    with hot_cursor() as cursor:
        cursor.execute(_TOKEN_SQL, [raw[4:12]])
        names = [c.name for c in cursor.description]
        rows = cursor.fetchall()
    for row in rows:
        token = dict(zip(reversed(names), reversed(row), strict=True))  # first name wins
        if hmac.compare_digest(token["digest"], digest):
            if token["revoked_at"] is not None or not token["is_active"]:
                raise Unauthorized
            if token["expires_at"] is not None and token["expires_at"] <= datetime.now(UTC):
                raise Unauthorized
            return token
    raise Unauthorized


def _json(body, status: int = 200) -> HttpResponse:
    return HttpResponse(
        json.dumps(body, default=str, separators=(",", ":")),
        status=status,
        content_type="application/json",
    )


def me_floor(request):
    try:
        token = _authenticate(request)
    except Unauthorized:
        return _json({"error": "unauthenticated"}, 401)
    return _json(
        {"email": token["email"], "tenant_id": token["tenant_id"], "roles": token["roles"]}
    )


def _capture(request, product_path: str) -> list[tuple[str, object]]:
    """The SQL the product's view sends for `product_path` (authentication and
    the once-a-minute `last_used_at` write left out), as sent: (statement,
    parameters), replayed through the same cursor (`hot_cursor`: prepared
    where the product's are)."""
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    with _lock:
        if product_path not in _captured:
            fake = RequestFactory().get(
                product_path,
                HTTP_AUTHORIZATION=request.META["HTTP_AUTHORIZATION"],
                HTTP_HOST=request.get_host(),
            )
            match = resolve(product_path.partition("?")[0])
            with CaptureQueriesContext(connection) as ctx:
                response = match.func(fake, *match.args, **match.kwargs)
                response.render()
            if response.status_code != 200:
                raise RuntimeError(f"{product_path}: {response.status_code}")
            _captured[product_path] = [
                (q["sql"], q.get("params"))
                for q in ctx.captured_queries
                if "arcadia_cloud_apitoken" not in q["sql"]
                and q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))
            ]
    return _captured[product_path]


def read_floor(request, rest: str):
    try:
        _authenticate(request)
    except Unauthorized:
        return _json({"error": "unauthenticated"}, 401)
    statements = _capture(request, request.get_full_path().replace("/api/floor/", "/api/", 1))
    body = []
    with hot_cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
            names = [c.name for c in cursor.description]
            body.append([dict(zip(names, row, strict=True)) for row in cursor.fetchall()])
    return _json(body)


@csrf_exempt  # as every DRF view is
def transition_floor(request, pk: str):
    try:
        token = _authenticate(request)
    except Unauthorized:
        return _json({"error": "unauthenticated"}, 401)
    values = json.loads(request.body)
    row = _move(
        pk,
        values["to_state"],
        tenant_id=token["tenant_id"],
        label=token["email"],
        reason=values.get("reason", ""),
        request_id=getattr(request, "request_id", ""),
        at=datetime.now(UTC),
    )
    if row is None:
        return _json({"error": "invalid_transition"}, 422)
    return _json({"deployment": row})


# -- the transition's statements, as the product sends them ------------------------


# The product's own fixed statements (deployments.transitions.move_sql, the
# audit + feed event statement of deployments.events / feed.record, the
# subscription follow of subscriptions.services); the resources' as
# deployments.resources writes it.
# a tenant's scope: `tenant_id = %s` (the text does not depend on which tenant)
_MOVE_SQL = move_sql(
    scope=Scope(tenant_id=uuid.UUID(int=0)).sql(connection.ops.quote_name("tenant_id"))[0],
    conditions=("tenant_id",),
)
_EVENT_SQL = f"{_AUDIT_WITH_SQL} {_INSERT_ONE_SQL}"


def _subscription_sql(to_state: str, at) -> tuple[str, dict]:
    return status_follow_statement(
        status=SUBSCRIPTION_STATUS_FOR_STATE[to_state],
        deployment_ids_sql="SELECT unnest(%(follow_ids)s::uuid[])",
        at=at,
    )


def _resources_sql(to_state: str) -> str:
    where, assignments = DRIVES[to_state]
    return (
        f"UPDATE cloud_resources SET {assignments}, generation = generation + 1, "
        f"updated_at = %s WHERE {where} AND deployment_id IN (%s) "
        f"RETURNING {', '.join(SHAPE_COLUMNS)}"
    )


_RESOURCES_SQL = {state: _resources_sql(state) for state in ("paused", "active")}


def _move(pk, to_state, *, tenant_id, label, reason, request_id, at):
    sources = {"paused": ["active"], "active": ["paused"]}.get(to_state)
    if sources is None:
        return None
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_MOVE_SQL, [pk, tenant_id, to_state, at, at, sources, tenant_id])
        names = [c.name for c in cursor.description]
        found = cursor.fetchone()
        if found is None:
            return None
        row = dict(zip(names[1:], found[1:], strict=True))
        from_state = found[0]
        data = {
            "from_state": from_state,
            "to_state": to_state,
            "actor": label,
            "reason": reason,
            "notes": "",
            "request_id": request_id,
            "deployment": row,
        }
        cursor.execute(
            _EVENT_SQL,
            [
                *(pk, from_state, to_state, reason, label, "", request_id, at),
                "deployment.transitioned",
                tenant_id,
                pk,
                at,
                json.dumps(data, default=str),
                request_id,
            ],
        )
        sql, params = _subscription_sql(to_state, at)
        cursor.execute(sql, {**params, "follow_ids": [pk]})
        cursor.execute(_RESOURCES_SQL[to_state], [at, pk])
    return row


urlpatterns = [
    path("api/floor/me", me_floor),
    re_path(r"^api/floor/v1/deployments/(?P<pk>[0-9a-f-]{36})/transition$", transition_floor),
    re_path(r"^api/floor/(?P<rest>v1/.*)$", read_floor),
    *product_urlpatterns,
]
