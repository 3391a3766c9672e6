"""Round trips to PostgreSQL on the hot endpoints, counted from libpq's own
protocol trace (`arcadia_cloud.db.round_trips`): every exchange the client
waits for, BEGIN and COMMIT included, which the query log does not show.

The tests run outside the test's transaction (`transactional_db`), as a
request runs in production, so BEGIN and COMMIT are real. Rate limits are
off (with them on, each request adds one upsert of its counter). The request
path's fixed statements are prepared on the server the first time a
connection sends them (one round trip more, once): each test measures the
steady state, after one request of the same kind.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command

from arcadia_cloud.db import round_trips
from deployments.resources import create_resource
from deployments.services import create_subscription
from deployments.transitions import transition_state
from tests.conftest import requires_postgres
from tests.factories import SYSTEM_ACTOR, make_deployment

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    settings.ARCADIA_THROTTLE_READ = "off"
    settings.ARCADIA_THROTTLE_WRITE = "off"


@pytest.fixture
def subscribed(tenant):
    call_command("seed_catalog", verbosity=0)
    deployment = make_deployment(tenant, slug="shop")
    for state in ("past_due", "active") * 3:
        transition_state(deployment_id=deployment.pk, to_state=state, actor=SYSTEM_ACTOR)
    create_subscription(
        deployment_id=deployment.pk,
        plan_code="studio",
        addon_codes=["storage_50gb"],
        actor=SYSTEM_ACTOR,
    )
    return deployment


def test_transition_is_six_round_trips_with_begin_and_commit(tenant_client, subscribed):
    tenant_client.get("/api/v1/me")  # the token's last-used write, once a minute
    with round_trips() as trips:
        response = tenant_client.post(
            f"/api/v1/deployments/{subscribed.pk}/transition",
            {"to_state": "paused", "reason": "round trips"},
            format="json",
        )
    assert response.status_code == 200, response.content
    sent = trips.sent
    # 1. the token lookup (outside the transaction: authentication)
    # then the transition's own 6:
    # 2. BEGIN
    # 3. lock + expected state + the map's sources and row conditions + the
    #    write: WITH old AS (SELECT ... FOR UPDATE) UPDATE ... RETURNING
    # 4. the audit event and the feed event: WITH audit AS (INSERT ...) INSERT
    # 5. the subscription follows (UPDATE)
    # 6. the resources follow (UPDATE ... RETURNING; none here, so no events)
    # 7. COMMIT (the feed's position trigger runs inside it, on the server)
    assert trips.count == 7, trips.sent
    assert sent[1] == "BEGIN"
    assert sent[2].startswith("WITH old AS (SELECT")
    assert sent[3].startswith("WITH audit AS (INSERT")
    assert sent[4].startswith('UPDATE "subscriptions_subscription"')
    assert sent[5].startswith("UPDATE cloud_resources")
    assert sent[6] == "COMMIT"


def test_a_transition_that_drives_resources_adds_their_events(subscribed):
    create_resource(
        deployment_id=subscribed.pk, kind="storage_gb", name="uploads", qty=10, actor=SYSTEM_ACTOR
    )
    with round_trips() as trips:
        transition_state(deployment_id=subscribed.pk, to_state="suspended", actor=SYSTEM_ACTOR)
    sent = trips.sent
    # BEGIN, lock+check+move, audit+feed, resources UPDATE ... RETURNING (one
    # resource stopped), its resource.updated events (one INSERT), COMMIT: 6.
    # Suspended leaves the subscription's status as it is: no UPDATE of it.
    assert trips.count == 6, trips.sent
    assert sent[0] == "BEGIN"
    assert sent[-1] == "COMMIT"


def test_a_refused_transition_takes_the_general_path(tenant_client, subscribed):
    tenant_client.get("/api/v1/me")
    path = f"/api/v1/deployments/{subscribed.pk}/transition"
    with round_trips() as trips:
        response = tenant_client.post(
            path, {"to_state": "active", "expected_state": "paused"}, format="json"
        )
    assert response.status_code == 409, response.content
    # token lookup, BEGIN, the one-statement move (moves nothing: the row is
    # not paused), the locking read that says why, ROLLBACK, and psycopg
    # dropping the connection's prepared statements after a rollback
    # (DEALLOCATE ALL: the next requests prepare theirs again)
    assert trips.count == 6, trips.sent
    assert trips.sent[2].startswith("WITH old AS")
    assert trips.sent[-2:] == ["ROLLBACK", "DEALLOCATE ALL"], trips.sent
    with round_trips() as trips:
        response = tenant_client.post(path, {"to_state": "archived"}, format="json")
    assert response.status_code == 422, response.content
    # no state the map lets a tenant archive from: the statement is not even
    # sent; token lookup (prepared again after the DEALLOCATE: one round trip
    # more), BEGIN, the locking read, ROLLBACK, DEALLOCATE ALL
    assert trips.count == 6, trips.sent
    assert trips.sent[-2:] == ["ROLLBACK", "DEALLOCATE ALL"], trips.sent


def test_show_is_four_round_trips(tenant_client, subscribed):
    tenant_client.get("/api/v1/me")
    # the first show on a connection prepares its statements (one round trip
    # each, once per connection): measure the second
    tenant_client.get(f"/api/v1/deployments/{subscribed.pk}")
    with round_trips() as trips:
        response = tenant_client.get(f"/api/v1/deployments/{subscribed.pk}")
    assert response.status_code == 200
    # 1. token lookup; 2. the deployment LEFT JOIN subscription, plan version,
    # plan; 3. the subscription's add-on lines and pending changes, one list;
    # 4. the newest events. No transaction (autocommit reads): no BEGIN/COMMIT.
    assert trips.count == 4, trips.sent


def test_me_is_one_round_trip(tenant_client):
    tenant_client.get("/api/v1/me")
    with round_trips() as trips:
        assert tenant_client.get("/api/v1/me").status_code == 200
    assert trips.count == 1, trips.sent


def test_list_is_two_round_trips(tenant_client, subscribed):
    tenant_client.get("/api/v1/me")
    tenant_client.get("/api/v1/deployments?state=paused")  # prepares this filter's statement
    with round_trips() as trips:
        response = tenant_client.get("/api/v1/deployments?state=active")
    assert response.status_code == 200
    assert response.json()["count"] == 1
    # 1. token lookup; 2. the count and the page, one statement
    assert trips.count == 2, trips.sent


def _prepared() -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_the_hot_statements_are_prepared_once_per_connection(tenant_client, subscribed):
    from django.db import connection

    connection.close()  # a connection of its own: nothing prepared yet
    for _ in range(3):
        assert tenant_client.get(f"/api/v1/deployments/{subscribed.pk}").status_code == 200
        assert tenant_client.get("/api/v1/deployments").status_code == 200
    prepared = _prepared()
    # the token lookup, show's three reads, the list's page: each once
    assert len(prepared) == 5, prepared
    assert sum("arcadia_cloud_apitoken" in s for s in prepared) == 1
    assert sum("n.total" in s for s in prepared) == 1


@pytest.mark.parametrize("pooling", ["transaction", "off"])
def test_nothing_is_prepared_behind_a_transaction_pool_or_when_off(
    tenant_client, subscribed, settings, pooling
):
    """DATABASE_POOLING=transaction turns ARCADIA_PREPARED_STATEMENTS off
    (PgBouncer in transaction pooling cannot carry them); so does the setting."""
    import os
    import subprocess
    import sys

    from django.db import connection

    env = {**os.environ, "SECRET_KEY": "x"}
    env["DATABASE_POOLING" if pooling == "transaction" else "ARCADIA_PREPARED_STATEMENTS"] = (
        pooling if pooling == "transaction" else "off"
    )
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
            "'arcadia_cloud.settings'); django.setup(); from django.conf import settings; "
            "print(settings.ARCADIA_PREPARED_STATEMENTS, "
            "settings.DATABASES['default']['OPTIONS'].get('prepare_threshold'))",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert shown == ["False", "None"], shown
    settings.ARCADIA_PREPARED_STATEMENTS = False
    connection.close()
    for _ in range(3):
        assert tenant_client.get(f"/api/v1/deployments/{subscribed.pk}").status_code == 200
        assert tenant_client.get("/api/v1/deployments").status_code == 200
    assert _prepared() == []
