"""A database connection lost mid-request is `503 {"error": "unavailable"}` with
Retry-After on every route (plain text outside /api/), never a 500, wherever it
is raised (a view, authentication, the idempotency middleware, the session
middleware), and nothing is half-written.

In process, the connection error is injected where it would surface; over real
HTTP (gunicorn on PostgreSQL), the app's backends are killed with
`pg_terminate_backend` while requests are in flight.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client
from rest_framework.test import APIClient

from arcadia_cloud.models import IdempotencyRecord
from deployments.models import Deployment, DeploymentEvent
from tests import live
from tests.conftest import requires_postgres
from tests.factories import make_deployment, token_for
from tests.reliability.conftest import post_json

KILLED = OperationalError("terminating connection due to administrator command")
CLOSED = InterfaceError("connection already closed")


def _unavailable_json(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "unavailable"}
    assert response["Retry-After"] == "1"
    assert response["X-Request-Id"]


def _api_client(identity) -> APIClient:
    # The exceptions are answered, not re-raised into the test.
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(identity)}")
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("error", [KILLED, CLOSED], ids=["killed", "closed"])
def test_lost_in_a_view_is_503(tenant_identity, deployment, monkeypatch, error):
    def lost(*args, **kwargs):
        raise error

    monkeypatch.setattr("deployments.api.views.selectors.show_reads", lost)
    _unavailable_json(_api_client(tenant_identity).get(f"/api/v1/deployments/{deployment.pk}"))


@pytest.mark.django_db
def test_lost_during_authentication_is_503(tenant_identity, monkeypatch):
    client = _api_client(tenant_identity)

    def lost(*args, **kwargs):
        raise KILLED

    monkeypatch.setattr("arcadia_cloud.auth.BearerTokenAuthentication.authenticate", lost)
    _unavailable_json(client.get("/api/v1/me"))


@pytest.mark.django_db
def test_lost_inside_the_idempotency_middleware_is_503_and_writes_nothing(
    tenant_identity, monkeypatch
):
    client = _api_client(tenant_identity)

    def lost(*args, **kwargs):
        raise KILLED

    monkeypatch.setattr("arcadia_cloud.api.idempotency._try_lock", lost)
    body = {"slug": "web", "display_name": "Web", "region": "us-east-1"}
    _unavailable_json(post_json(client, "/api/v1/deployments", body, HTTP_IDEMPOTENCY_KEY="k"))
    assert not Deployment.objects.exists()
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "where",
    [
        "deployments.admin.DeploymentAdmin.get_queryset",
        "django.contrib.sessions.backends.db.SessionStore.load",
    ],
)
def test_lost_in_the_admin_is_a_plain_503(superuser, monkeypatch, where):
    client = Client(raise_request_exception=False)
    client.force_login(superuser)

    def lost(*args, **kwargs):
        raise KILLED

    monkeypatch.setattr(where, lost)
    response = client.get("/admin/deployments/deployment/")
    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("text/plain")
    assert response["Retry-After"] == "1"


# ---- over real HTTP: gunicorn on PostgreSQL, backends killed ----------------------


def _app_backends(conn, *, waiting: bool) -> list[int]:
    sql = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
        "AND application_name = 'arcadia-live-test'"
    )
    if waiting:
        sql += " AND wait_event_type = 'Lock'"
    return [row[0] for row in conn.execute(sql).fetchall()]


def _kill_when_waiting(conn, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = _app_backends(conn, waiting=True)
        if pids:
            for pid in pids:
                conn.execute("SELECT pg_terminate_backend(%s)", [pid])
            return
        time.sleep(0.02)
    raise AssertionError("the request never waited for the lock")


@pytest.fixture
def server(transactional_db):
    with live.gunicorn(PGAPPNAME="arcadia-live-test") as port:
        yield port


@requires_postgres
def test_a_backend_killed_mid_transition_is_503_and_a_retry_has_one_effect(
    server, tenant, tenant_identity
):
    deployment = make_deployment(tenant, slug="web")
    token = token_for(tenant_identity)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Idempotency-Key": "pause-once",
    }
    body = b'{"to_state": "paused", "reason": "holiday"}'
    path = f"/api/v1/deployments/{deployment.pk}/transition"
    with (
        psycopg.connect(live.database_url(), autocommit=True) as killer,
        psycopg.connect(live.database_url()) as holder,
        ThreadPoolExecutor(1) as pool,
    ):
        # Hold the deployment's row lock: the transition waits for it inside
        # its transaction (idempotency record already inserted), and is killed there.
        holder.execute(
            "SELECT 1 FROM deployments_deployment WHERE id = %s FOR UPDATE", [deployment.pk]
        )
        pending = pool.submit(live.request, server, "POST", path, body, headers)
        _kill_when_waiting(killer)
        status, answer_headers, answer = pending.result(timeout=30)
        holder.rollback()
    assert status == 503, answer
    assert live.json_of((status, answer_headers, answer)) == {"error": "unavailable"}
    assert answer_headers["Retry-After"] == "1"
    deployment.refresh_from_db()
    assert deployment.state == "active"
    assert DeploymentEvent.objects.filter(deployment=deployment).count() == 1
    assert not IdempotencyRecord.objects.exists()

    retried = live.request(server, "POST", path, body, headers)
    assert retried[0] == 200, retried
    again = live.request(server, "POST", path, body, headers)
    assert (again[0], again[1].get("Idempotent-Replayed")) == (200, "true")
    deployment.refresh_from_db()
    assert deployment.state == "paused"
    assert DeploymentEvent.objects.filter(deployment=deployment).count() == 2


@requires_postgres
def test_a_backend_killed_mid_admin_page_is_a_plain_503(server, superuser):
    client = Client()
    client.force_login(superuser)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    with (
        psycopg.connect(live.database_url(), autocommit=True) as killer,
        psycopg.connect(live.database_url()) as holder,
        ThreadPoolExecutor(1) as pool,
    ):
        holder.execute("LOCK TABLE deployments_deployment IN ACCESS EXCLUSIVE MODE")
        pending = pool.submit(
            live.request, server, "GET", "/admin/deployments/deployment/", None, {"Cookie": cookie}
        )
        _kill_when_waiting(killer)
        status, headers, body = pending.result(timeout=30)
        holder.rollback()
    assert status == 503, body[:500]
    assert headers["Content-Type"].startswith("text/plain")
    assert headers["Retry-After"] == "1"
    assert (
        live.request(server, "GET", "/admin/deployments/deployment/", None, {"Cookie": cookie})[0]
        == 200
    )


@requires_postgres
def test_backends_killed_under_load_never_give_a_500_nor_a_double_effect(
    server, tenant, tenant_identity
):
    """Four clients create deployments with Idempotency-Keys and read them back,
    retrying a 503, while every app backend is killed every 50 ms."""
    token = token_for(tenant_identity)
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    answers: list[tuple[int, str, str]] = []
    keys = [f"load-{n}" for n in range(24)]
    stop = threading.Event()

    def client(my_keys: list[str]) -> None:
        for key in my_keys:
            body = f'{{"slug": "{key}", "display_name": "Load", "region": "us-east-1"}}'.encode()
            # Retry a 503 until it goes through: on a loaded machine a request
            # may be cut many times in a row, so the bound is time, not tries.
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                status, headers, _answer = live.request(
                    server, "POST", "/api/v1/deployments", body, {**auth, "Idempotency-Key": key}
                )
                answers.append(
                    (status, headers.get("Content-Type", ""), headers.get("Retry-After"))
                )
                if status != 503:
                    break
                time.sleep(0.02)
            status, headers, _ = live.request(
                server, "GET", "/api/v1/deployments?limit=5", None, auth
            )
            answers.append((status, headers.get("Content-Type", ""), headers.get("Retry-After")))

    def killer() -> None:
        with psycopg.connect(live.database_url(), autocommit=True) as conn:
            while not stop.is_set():
                for pid in _app_backends(conn, waiting=False):
                    conn.execute("SELECT pg_terminate_backend(%s)", [pid])
                time.sleep(0.05)

    killing = threading.Thread(target=killer)
    killing.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(client, [keys[n::4] for n in range(4)]))
    finally:
        stop.set()
        killing.join()
    statuses = sorted({status for status, _, _ in answers})
    # 503s prove requests were cut mid-flight (typically 50-80 of ~100 answers).
    assert 503 in statuses
    assert set(statuses) <= {200, 201, 503}, statuses
    assert all(ctype.startswith("application/json") for _, ctype, _ in answers)
    assert all(retry == "1" for status, _, retry in answers if status == 503)
    # Every key took effect exactly once: one deployment, one event, one record.
    rows = Deployment.objects.filter(slug__in=keys)
    assert sorted(rows.values_list("slug", flat=True)) == sorted(keys)
    assert DeploymentEvent.objects.filter(deployment__in=rows).count() == len(keys)
    assert IdempotencyRecord.objects.filter(key__in=keys).count() == len(keys)


@pytest.fixture
def one_thread_server(transactional_db):
    # One thread, so one persistent database connection serves every request.
    with live.gunicorn(threads=1, PGAPPNAME="arcadia-live-test") as port:
        yield port


@requires_postgres
def test_a_terminated_connection_fails_exactly_one_request_and_the_next_reconnects(
    one_thread_server, tenant_identity
):
    """No per-request health check (`SELECT 1`): the request that finds the
    persistent connection terminated is the one that fails (503 JSON, as any
    lost database), Django discards the connection at its end, and the next
    request opens a new one."""
    token = token_for(tenant_identity)
    auth = {"Authorization": f"Bearer {token}"}
    path = "/api/v1/deployments?limit=5"
    assert live.request(one_thread_server, "GET", path, None, auth)[0] == 200
    with psycopg.connect(live.database_url(), autocommit=True) as killer:
        before = _app_backends(killer, waiting=False)
        assert len(before) == 1
        killer.execute("SELECT pg_terminate_backend(%s)", [before[0]])
        deadline = time.monotonic() + 10
        while _app_backends(killer, waiting=False) and time.monotonic() < deadline:
            time.sleep(0.02)
        answers = [live.request(one_thread_server, "GET", path, None, auth) for _ in range(4)]
        after = _app_backends(killer, waiting=False)
    status, headers, body = answers[0]
    assert status == 503, body
    assert live.json_of(answers[0]) == {"error": "unavailable"}
    assert headers["Retry-After"] == "1"
    assert [a[0] for a in answers[1:]] == [200, 200, 200]
    assert len(after) == 1  # one new connection, kept
    assert after != before
