"""Recording: only inside the fact's transaction, only known types, one
statement for a batch; positions exist once the transaction commits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction

from feed.errors import RecordingOutsideTransaction
from feed.models import Event
from feed.record import NewEvent, record_event, record_events, record_events_from_select
from feed.types import EVENT_TYPES, UnknownEventType
from tests.feed.conftest import read_all

pytestmark = pytest.mark.django_db

TENANT = uuid.UUID("11111111-1111-4111-8111-111111111111")
DEPLOYMENT = uuid.UUID("22222222-2222-4222-8222-222222222222")


def test_the_type_list_is_the_spec_list():
    assert EVENT_TYPES == (
        "deployment.created",
        "deployment.transitioned",
        "deployment.override_changed",
        "subscription.created",
        "subscription.addon_attached",
        "subscription.addon_detached",
        "subscription.plan_changed",
        "subscription.change_scheduled",
        "subscription.change_withdrawn",
        "subscription.period_closed",
        "subscription.trial_will_end",
        "resource.created",
        "resource.updated",
        "resource.status_changed",
        "resource.deleted",
        "webhook_endpoint.disabled",
    )


def test_record_event_writes_one_row_with_every_field():
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with transaction.atomic():
        event = record_event(
            type="deployment.transitioned",
            tenant_id=TENANT,
            deployment_id=DEPLOYMENT,
            data={"from_state": "active", "to_state": "paused", "id": uuid.UUID(int=5)},
            request_id="req-1",
            occurred_at=at,
        )
    row = Event.objects.get(pk=event.pk)
    assert (row.type, row.tenant_id, row.deployment_id, row.request_id, row.occurred_at) == (
        "deployment.transitioned",
        TENANT,
        DEPLOYMENT,
        "req-1",
        at,
    )
    # UUIDs (and datetimes) in data are stored as JSON strings
    assert row.data == {
        "from_state": "active",
        "to_state": "paused",
        "id": "00000000-0000-0000-0000-000000000005",
    }
    assert [e.id for e in read_all()] == [event.pk]


@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_is_refused():
    with pytest.raises(RecordingOutsideTransaction):
        record_event(type="deployment.created", tenant_id=TENANT, deployment_id=None, data={})
    with pytest.raises(RecordingOutsideTransaction):
        record_events([NewEvent("deployment.created", TENANT, None)])
    with pytest.raises(RecordingOutsideTransaction):
        record_events_from_select(type="deployment.created", select_sql="SELECT 1")
    assert Event.objects.count() == 0


@pytest.mark.parametrize("bad", ["deployment.deleted", "", "resource.*", "Deployment.created"])
def test_an_unknown_type_is_refused_before_anything_is_written(bad):
    with transaction.atomic():
        with pytest.raises(UnknownEventType):
            record_event(type=bad, tenant_id=TENANT, deployment_id=None, data={})
        with pytest.raises(UnknownEventType):
            record_events([NewEvent("resource.created", TENANT, None), NewEvent(bad, TENANT, None)])
        with pytest.raises(UnknownEventType):
            record_events_from_select(type=bad, select_sql="SELECT 1")
    assert Event.objects.count() == 0


def test_the_database_refuses_an_unknown_type_too():
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO feed_event (type, occurred_at, data, request_id) "
            "VALUES ('deployment.exploded', %s, '{}', '')",
            [datetime.now(UTC)],
        )


def test_record_events_keeps_the_given_order_in_the_feed():
    rows = [
        NewEvent(
            type="resource.updated" if i % 2 else "resource.created",
            tenant_id=TENANT,
            deployment_id=DEPLOYMENT if i % 3 else None,
            data={"i": i, "text": "tab\there\nnewline \\ backslash é"},
            request_id=f"r{i}",
        )
        for i in range(250)
    ]
    with transaction.atomic():
        assert record_events(rows) == 250
    events = read_all()
    assert [e.data["i"] for e in events] == list(range(250))
    assert events[7].data["text"] == "tab\there\nnewline \\ backslash é"
    assert [(e.type, e.deployment_id, e.request_id) for e in events] == [
        (r.type, r.deployment_id, r.request_id) for r in rows
    ]
    assert record_events([]) == 0


def test_record_events_from_select_writes_n_events_in_one_statement(django_assert_num_queries):
    if connection.vendor == "postgresql":
        select = (
            "SELECT %s::uuid AS tenant_id, NULL::uuid AS deployment_id, now() AS occurred_at, "
            "jsonb_build_object('n', g) AS data, 'batch' AS request_id "
            "FROM generate_series(1, 300) AS g ORDER BY g"
        )
        params = [str(TENANT)]
    else:
        select = (
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 300) "
            "SELECT %s AS tenant_id, NULL AS deployment_id, %s AS occurred_at, "
            "json_object('n', n) AS data, 'batch' AS request_id FROM g ORDER BY n"
        )
        params = [TENANT.hex, "2026-03-01 12:00:00"]
    # One INSERT ... SELECT, whatever the number of rows.
    with transaction.atomic(), django_assert_num_queries(1):
        written = record_events_from_select(
            type="subscription.period_closed", select_sql=select, params=params
        )
    assert written == 300
    events = read_all()
    assert [e.data["n"] for e in events] == list(range(1, 301))
    assert {(e.type, e.tenant_id, e.request_id) for e in events} == {
        ("subscription.period_closed", TENANT, "batch")
    }


@pytest.mark.django_db(transaction=True)
def test_positions_exist_once_committed_and_follow_insert_order_within_a_transaction():
    with transaction.atomic():
        first = record_event(type="resource.created", tenant_id=TENANT, deployment_id=None, data={})
        second = record_event(
            type="resource.deleted", tenant_id=TENANT, deployment_id=None, data={}
        )
        record_events([NewEvent("resource.updated", TENANT, None, {"k": k}) for k in range(3)])
        if connection.vendor == "postgresql":
            # Before COMMIT there is no position yet.
            assert Event.objects.filter(position__isnull=False).count() == 0
    rows = list(Event.objects.order_by("id").values_list("id", "position"))
    assert [r[0] for r in rows][:2] == [first.pk, second.pk]
    positions = [p for _, p in rows]
    assert None not in positions
    assert positions == sorted(positions)
    assert len(set(positions)) == 5
