"""The lifecycle drives resources inside the transition's transaction, from
every entry point: paused/suspended stop and hold what runs, back to active
the held ones run again, cancelled deletes all; each change bumps the
generation and writes `resource.updated`. The batch does it set-based."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arcadia_cloud import db
from arcadia_cloud.actors import Actor
from deployments import batch
from deployments.models import CloudResource
from deployments.resources import drive_resources, update_resource
from deployments.transitions import transition_state
from tests.batch.conftest import make_deployments, run
from tests.factories import SYSTEM_ACTOR, TenantFactory, put_in_state
from tests.resources.conftest import make_resource, post_json, resource_events, row

pytestmark = pytest.mark.django_db

OPERATOR = Actor(kind="operator", label="ops@arcadia.example")


@pytest.fixture
def three(subscribed):
    """running `web`, running `db`, and `cold`, stopped by its tenant."""
    return (
        make_resource(subscribed, name="web", qty=10),
        make_resource(subscribed, name="db", qty=10),
        make_resource(subscribed, name="cold", qty=10, desired_state="stopped"),
    )


def states(resources) -> list[tuple]:
    return [
        (r["name"], r["desired_state"], r["held"], r["generation"])
        for r in (row(x) for x in resources)
    ]


@pytest.mark.parametrize("to_state", ["paused", "suspended"])
def test_pause_and_suspend_stop_and_hold_what_runs(subscribed, three, to_state):
    transition_state(deployment_id=subscribed.pk, to_state=to_state, actor=OPERATOR)
    assert states(three) == [
        ("web", "stopped", True, 2),
        ("db", "stopped", True, 2),
        ("cold", "stopped", False, 1),
    ]
    updates = resource_events(type="resource.updated")
    # in id (= creation) order
    assert [(e.data["name"], e.data["desired_state"], e.data["generation"]) for e in updates] == [
        ("web", "stopped", 2),
        ("db", "stopped", 2),
    ]
    assert all(e.data["held"] and e.deployment_id == subscribed.pk for e in updates)


def test_back_to_active_the_held_ones_run_again(subscribed, three):
    transition_state(deployment_id=subscribed.pk, to_state="paused", actor=OPERATOR)
    transition_state(deployment_id=subscribed.pk, to_state="active", actor=OPERATOR)
    assert states(three) == [
        ("web", "running", False, 3),
        ("db", "running", False, 3),
        ("cold", "stopped", False, 1),
    ]
    assert len(resource_events(type="resource.updated")) == 4


def test_a_tenant_stop_of_a_held_resource_stays_stopped_on_resume(subscribed, three):
    web = three[0]
    transition_state(deployment_id=subscribed.pk, to_state="paused", actor=OPERATOR)
    update_resource(resource_id=web.pk, desired_state="stopped", actor=SYSTEM_ACTOR)
    assert (row(web)["held"], row(web)["generation"]) == (False, 2)
    transition_state(deployment_id=subscribed.pk, to_state="active", actor=OPERATOR)
    assert (row(web)["desired_state"], row(web)["generation"]) == ("stopped", 2)


def test_cancel_deletes_everything_that_is_not_deleted(subscribed, three):
    transition_state(deployment_id=subscribed.pk, to_state="paused", actor=OPERATOR)
    transition_state(deployment_id=subscribed.pk, to_state="cancelled", actor=OPERATOR)
    assert states(three) == [
        ("web", "deleted", False, 3),
        ("db", "deleted", False, 3),
        ("cold", "deleted", False, 2),
    ]
    # archived after cancelled: nothing left to change
    before = len(resource_events())
    transition_state(deployment_id=subscribed.pk, to_state="archived", actor=OPERATOR)
    assert len(resource_events()) == before


def test_past_due_changes_nothing(subscribed, three):
    transition_state(deployment_id=subscribed.pk, to_state="past_due", actor=OPERATOR)
    assert [s[1:] for s in states(three)] == [
        ("running", False, 1),
        ("running", False, 1),
        ("stopped", False, 1),
    ]


def test_a_refused_move_drives_nothing(subscribed, three, tenant_actor):
    from deployments.errors import TransitionForbidden

    with pytest.raises(TransitionForbidden):
        transition_state(deployment_id=subscribed.pk, to_state="suspended", actor=tenant_actor)
    assert [s[3] for s in states(three)] == [1, 1, 1]


def test_other_deployments_resources_are_untouched(subscribed, foreign_subscribed, three):
    theirs = make_resource(foreign_subscribed, name="web")
    transition_state(deployment_id=subscribed.pk, to_state="paused", actor=OPERATOR)
    assert (row(theirs)["desired_state"], row(theirs)["generation"]) == ("running", 1)


def test_from_the_api_with_the_request_id_on_the_events(subscribed, three, tenant_client):
    response = post_json(
        tenant_client,
        f"/api/v1/deployments/{subscribed.pk}/transition",
        {"to_state": "paused", "reason": "holiday"},
    )
    assert response.status_code == 200
    assert [s[1:3] for s in states(three)][:2] == [("stopped", True), ("stopped", True)]
    updates = resource_events(type="resource.updated")
    assert {e.request_id for e in updates} == {response["X-Request-Id"]}
    # the resource's own time is the move's time
    subscribed.refresh_from_db()
    assert {e.occurred_at for e in updates} == {subscribed.state_since}


def test_from_the_console(subscribed, three, superuser_client):
    response = superuser_client.post(
        f"/admin/deployments/deployment/{subscribed.pk}/transition/suspended/",
        {"reason": "abuse report", "expected_state": "active"},
    )
    assert response.status_code == 302
    assert [s[1:] for s in states(three)][:2] == [("stopped", True, 2), ("stopped", True, 2)]


def test_from_the_batch_command(subscribed, three):
    put_in_state(subscribed, "past_due")
    summary = run("--from", "past_due", "--to", "suspended", "--reason", "unpaid")
    assert summary["moved"] == "1"
    assert [s[1:] for s in states(three)][:2] == [("stopped", True, 2), ("stopped", True, 2)]
    updates = resource_events(type="resource.updated")
    assert len(updates) == 2
    assert {e.request_id for e in updates} == {
        e.request_id for e in subscribed.events.filter(to_state="suspended")
    }


def test_the_batch_drives_every_deployment_of_the_chunk(catalog):
    tenant = TenantFactory(slug="fleet")
    fleet = make_deployments(tenant, 30, state="past_due")
    rows = [
        CloudResource(deployment=d, tenant=tenant, kind="storage_gb", name=f"r{i}", qty=1)
        for d in fleet
        for i in range(2)
    ]
    CloudResource.objects.bulk_create(rows)
    result = batch.transition_batch(
        selection=batch.BatchSelection(from_state="past_due", to_state="suspended"),
        actor=Actor.system("system:test"),
        reason="dunning",
        batch_size=7,
        workers=1,
    )
    assert result.moved == 30
    assert set(
        CloudResource.objects.values_list("desired_state", "held", "generation").distinct()
    ) == {("stopped", True, 2)}
    assert len(resource_events(type="resource.updated")) == 60


def _batch_statements(monkeypatch, deployments: int) -> tuple[int, int]:
    """(ORM queries, statements on the server-binding cursors) of one batch
    chunk moving `deployments` past_due deployments with 2 resources each
    (SQLite's bulk INSERT splits at ~140 events: the test stays under it)."""
    tenant = TenantFactory()
    fleet = make_deployments(tenant, deployments, state="past_due")
    CloudResource.objects.bulk_create(
        [
            CloudResource(deployment=d, tenant=tenant, kind="storage_gb", name=f"r{i}", qty=1)
            for d in fleet
            for i in range(2)
        ]
    )
    raw = {"n": 0}
    real = db.server_binding_cursor

    def counting_cursor():
        raw["n"] += 1
        return real()

    # The set-based statements run on psycopg cursors outside Django's query
    # log: count each cursor opened (one statement each).
    for module in (
        "deployments.batch",
        "deployments.events",
        "deployments.resources",
        "feed.record",
    ):
        monkeypatch.setattr(f"{module}.server_binding_cursor", counting_cursor)
    with CaptureQueriesContext(connection) as orm:
        result = batch.transition_batch(
            selection=batch.BatchSelection(
                from_state="past_due", to_state="suspended", tenant_id=tenant.pk
            ),
            actor=Actor.system("system:test"),
            reason="dunning",
            batch_size=100,
            workers=1,
        )
    assert result.moved == deployments
    assert CloudResource.objects.filter(deployment__tenant=tenant, held=True).count() == (
        2 * deployments
    )
    return len(orm.captured_queries), raw["n"]


def test_the_batch_drive_costs_the_same_statements_for_5_deployments_and_for_60(monkeypatch):
    small = _batch_statements(monkeypatch, 5)
    large = _batch_statements(monkeypatch, 60)
    assert large == small
    orm, raw = small
    if connection.vendor == "postgresql":
        # Server-binding cursors: the chunk's ONE statement (the lock, the
        # deployments' UPDATE, the transition events, the subscriptions
        # following and the resources' UPDATE ... RETURNING, as WITH clauses)
        # and the resources' events' COPY. ORM: the count of matching rows,
        # the chunk's transaction statements, the final flush.
        assert raw == 2
        assert orm <= 8
    else:
        # SQLite: everything on Django's cursors: the count of matching rows,
        # SAVEPOINT, the chunk's read (no row locks on SQLite), the
        # deployments' UPDATE, the transition events' bulk INSERT, the feed
        # rows read for their shape and their INSERT, the resources' UPDATE
        # ... RETURNING, their events' INSERT, RELEASE.
        assert raw == 0
        assert orm == 10


def test_drive_resources_is_one_statement_for_a_state_that_drives_something(subscribed, three):
    with CaptureQueriesContext(connection) as queries:
        from django.db import transaction

        with transaction.atomic():
            assert (
                drive_resources(
                    deployment_ids=[subscribed.pk], to_state="past_due", actor=OPERATOR, at=None
                )
                == 0
            )
    # past_due drives nothing: not even a query
    assert [q for q in queries.captured_queries if "cloud_resources" in q["sql"]] == []
