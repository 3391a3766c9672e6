"""Long polling: `wait=S` holds the request until an event commits (woken by
LISTEN/NOTIFY on PostgreSQL, polling on SQLite) or S seconds pass, without
holding a database connection while it waits."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from feed.cursor import decode_cursor
from feed.models import Event
from feed.waiting import listener
from tests.conftest import _client, requires_postgres
from tests.feed.conftest import record
from tests.threads import run_threads

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_in_thread(identity, query: str) -> tuple[threading.Thread, dict]:
    """GET /api/v1/events?<query> in another thread (its own connection)."""
    result: dict = {}

    def request(_):
        client = _client(identity)
        result["started"] = time.monotonic()
        result["response"] = client.get(f"/api/v1/events?{query}")
        result["returned"] = time.monotonic()

    thread = threading.Thread(target=lambda: result.setdefault("errors", run_threads(1, request)))
    thread.start()
    return thread, result


def _until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_waiting_request_wakes_within_a_second_of_a_commit(tenant, tenant_identity):
    thread, result = _wait_in_thread(tenant_identity, "after=now&wait=20")
    _until(lambda: "started" in result)
    time.sleep(0.6)  # well into its wait
    event = record("deployment.transitioned", tenant_id=tenant.id, to_state="paused")
    committed = time.monotonic()
    thread.join(25)
    assert result["errors"] == []
    response = result["response"]
    assert response.status_code == 200, response.content
    assert [e["id"] for e in response.json()["events"]] == [f"evt_{event.pk}"]
    assert committed <= result["returned"] < committed + 1.0


def test_a_wait_with_nothing_new_ends_after_s_seconds(tenant_identity):
    head = record("resource.created", tenant_id=tenant_identity.tenant_id)
    thread, result = _wait_in_thread(tenant_identity, "after=now&wait=1")
    thread.join(10)
    assert result["errors"] == []
    body = result["response"].json()
    assert body["events"] == []
    assert body["has_more"] is False
    assert decode_cursor(body["next_cursor"]) == Event.objects.get(pk=head.pk).position
    assert 0.95 <= result["returned"] - result["started"] < 2.0


def test_another_tenants_commit_does_not_end_the_wait(tenant, other_tenant, tenant_identity):
    thread, result = _wait_in_thread(tenant_identity, "after=now&wait=2")
    _until(lambda: "started" in result)
    time.sleep(0.3)
    record("deployment.created", tenant_id=other_tenant.id)
    thread.join(10)
    assert result["response"].json()["events"] == []
    assert result["returned"] - result["started"] >= 1.95


def test_wait_zero_answers_at_once(tenant_identity):
    started = time.monotonic()
    response = _client(tenant_identity).get("/api/v1/events?after=now&wait=0")
    assert response.status_code == 200
    assert time.monotonic() - started < 0.5


@requires_postgres
def test_a_waiting_request_holds_no_database_connection(tenant, tenant_identity):
    thread, result = _wait_in_thread(tenant_identity, "after=now&wait=3")
    _until(lambda: "started" in result)
    _until(lambda: listener().connected)
    time.sleep(0.5)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        others = sorted(row[0] for row in cursor.fetchall())
    # Only the process's one listener: the waiting request closed its own.
    assert others == ["arcadia-feed-listener"]
    record("resource.created", tenant_id=tenant.id)
    thread.join(10)
    assert len(result["response"].json()["events"]) == 1


@requires_postgres
def test_the_listener_reconnects_and_waiters_still_wake(tenant, tenant_identity):
    assert listener().ready()
    generation = listener().generation
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'arcadia-feed-listener'"
        )
    # lost (one bump), then back (another)
    _until(lambda: listener().generation >= generation + 2 and listener().connected)
    thread, result = _wait_in_thread(tenant_identity, "after=now&wait=20")
    _until(lambda: "started" in result)
    time.sleep(0.5)
    event = record("resource.created", tenant_id=tenant.id)
    committed = time.monotonic()
    thread.join(25)
    assert [e["id"] for e in result["response"].json()["events"]] == [f"evt_{event.pk}"]
    assert result["returned"] < committed + 1.0
