"""Query counts of the hot read paths, pinned and proven constant: the same number
of queries for a handful of rows as for many."""

from __future__ import annotations

import pytest
from django.db import connection

from arcadia_cloud.actors import Actor
from deployments.transitions import transition_state
from tests.factories import make_deployment


def _grow(tenant, identity, *, deployments: int, events: int) -> list:
    """`deployments` deployments holding `events` events in total (creation included)."""
    actor = Actor.for_identity(identity)
    made = [make_deployment(tenant) for _ in range(deployments)]
    extra = events - deployments
    for i in range(extra):
        target = made[i % len(made)]
        to_state = "paused" if (i // len(made)) % 2 == 0 else "active"
        transition_state(deployment_id=target.pk, to_state=to_state, actor=actor)
    return made


def _warm(client) -> None:
    # The first request with a fresh token records its last-used time (one
    # UPDATE, then at most once a minute); measure the steady state.
    assert client.get("/api/v1/me").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("deployments", "events"), [(5, 5), (60, 150)])
def test_list_query_count_is_constant(
    tenant_client, tenant, tenant_identity, django_assert_max_num_queries, deployments, events
):
    _grow(tenant, tenant_identity, deployments=deployments, events=events)
    _warm(tenant_client)
    # 1. token lookup (token + identity + tenant, one join)
    # 2. on PostgreSQL: the count of the scoped, filtered deployments and the
    #    page, in one statement (allowed_transitions built in it too);
    #    elsewhere: 2. COUNT(*), 3. the page
    with django_assert_max_num_queries(4) as captured:
        response = tenant_client.get("/api/v1/deployments")
    assert response.status_code == 200
    assert len(response.json()["deployments"]) == min(deployments, 50)
    expected = 2 if connection.vendor == "postgresql" else 3
    assert len(captured) == expected, [q["sql"] for q in captured.captured_queries]


@pytest.mark.django_db
@pytest.mark.parametrize("events", [5, 150])
def test_show_query_count_is_constant(
    tenant_client, tenant, tenant_identity, django_assert_max_num_queries, events
):
    deployment = _grow(tenant, tenant_identity, deployments=1, events=events)[0]
    _warm(tenant_client)
    # 1. token lookup (token + identity + tenant, one join)
    # 2. the deployment, through the tenant scope, LEFT JOIN its subscription,
    #    plan version and plan (one query whether or not it has one)
    # 3. the newest 100 events
    # (4. the subscription's add-on lines, only when it has a subscription)
    with django_assert_max_num_queries(4) as captured:
        response = tenant_client.get(f"/api/v1/deployments/{deployment.pk}")
    assert response.status_code == 200
    assert len(response.json()["events"]) == min(events, 100)
    assert response.json()["subscription"] is None
    assert len(captured) == 3, [q["sql"] for q in captured.captured_queries]


@pytest.mark.django_db
@pytest.mark.parametrize("deployments", [5, 60])
def test_admin_list_query_count_is_constant(
    admin_client_api,
    tenant,
    other_tenant,
    tenant_identity,
    django_assert_max_num_queries,
    deployments,
):
    _grow(tenant, tenant_identity, deployments=deployments, events=deployments)
    make_deployment(other_tenant)
    _warm(admin_client_api)
    # the same for a platform admin, filtered or not: 1. token lookup;
    # 2. count and page in one statement (PostgreSQL) or 2. COUNT(*), 3. the page
    expected = 2 if connection.vendor == "postgresql" else 3
    for query, count in (("?limit=500", deployments + 1), (f"?tenant_id={tenant.pk}", deployments)):
        with django_assert_max_num_queries(4) as captured:
            response = admin_client_api.get(f"/api/v1/deployments{query}")
        assert response.status_code == 200
        assert response.json()["count"] == count
        assert len(response.json()["deployments"]) == min(count, 50 if "tenant" in query else 500)
        assert len(captured) == expected, [q["sql"] for q in captured.captured_queries]


@pytest.mark.django_db
@pytest.mark.parametrize("events", [5, 150])
def test_events_page_query_count_is_constant(
    tenant_client, tenant, tenant_identity, django_assert_max_num_queries, events
):
    deployment = _grow(tenant, tenant_identity, deployments=1, events=events)[0]
    _warm(tenant_client)
    # 1. token lookup; 2. the deployment (scope check); 3. one page of events
    with django_assert_max_num_queries(3):
        response = tenant_client.get(f"/api/v1/deployments/{deployment.pk}/events")
    assert response.status_code == 200
    assert len(response.json()["events"]) == min(events, 50)


@pytest.mark.django_db
@pytest.mark.parametrize("events", [5, 150])
def test_transition_query_count_is_constant(
    tenant_client, tenant, tenant_identity, django_assert_max_num_queries, events
):
    deployment = _grow(tenant, tenant_identity, deployments=1, events=events)[0]
    deployment.refresh_from_db()
    to_state = "paused" if deployment.state == "active" else "active"
    _warm(tenant_client)
    # PostgreSQL (the single-row move is one statement):
    # 1. token lookup
    # 2. lock + check + move: WITH old AS (SELECT ... FOR UPDATE, through the
    #    tenant scope) UPDATE ... FROM old WHERE old.state = ANY(sources) ...
    # 3. the audit event and its feed event (one INSERT with a WITH INSERT)
    # 4. the subscription follows; 5. its resources follow (one UPDATE ...
    #    RETURNING, nothing to return here)
    # Elsewhere (SQLite): 1. token lookup; 2. the deployment through the
    # scope; 3. UPDATE it; 4. INSERT its audit event; 5. INSERT its feed
    # event; 6. the subscription; 7. the resources.
    # (+ the transaction's savepoint and its release inside the test's transaction)
    with django_assert_max_num_queries(9) as captured:
        response = tenant_client.post(
            f"/api/v1/deployments/{deployment.pk}/transition",
            {"to_state": to_state, "reason": "query count"},
            format="json",
        )
    assert response.status_code == 200, response.content
    sql = [q["sql"] for q in captured.captured_queries]
    statements = [s for s in sql if not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    if connection.vendor == "postgresql":
        assert len(statements) == 5, sql
        assert "FOR UPDATE" in statements[1]
        assert statements[1].startswith("WITH old AS")
    else:
        assert len(statements) == 7, sql
    assert str(tenant.pk).replace("-", "") in statements[1].replace("-", "")


@pytest.mark.django_db
def test_transition_of_a_foreign_deployment_is_404_even_with_a_bad_body(
    tenant_client, other_tenant
):
    foreign = make_deployment(other_tenant)
    for body in ({"to_state": "paused"}, {"to_state": "frozen"}, {}):
        response = tenant_client.post(
            f"/api/v1/deployments/{foreign.pk}/transition", body, format="json"
        )
        assert response.status_code == 404, (body, response.content)
    foreign.refresh_from_db()
    assert foreign.state == "active"
