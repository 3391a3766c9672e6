"""The feed is append-only in the database: no UPDATE but the commit-time
position, no DELETE but retention below the watermark, no hand-made position."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from feed.models import Event, RetentionWatermark
from tests.conftest import requires_postgres
from tests.feed.conftest import read_all, record

pytestmark = pytest.mark.django_db


class _Refused:
    """Expect the database to refuse, without breaking the test's transaction."""

    def __enter__(self):
        self.raises = pytest.raises(IntegrityError, match="append-only")
        self.raises.__enter__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()

    def __exit__(self, *exc):
        self.atomic.__exit__(*exc)
        return self.raises.__exit__(*exc)


@pytest.fixture
def event():
    recorded = record("deployment.created", note="original")
    read_all()  # positioned (a no-op on SQLite, which positions at insert)
    return Event.objects.get(pk=recorded.pk)


def _sql(statement: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_orm_update_save_and_delete_are_refused(event):
    with _Refused():
        Event.objects.filter(pk=event.pk).update(request_id="forged")
    event.data = {"note": "rewritten"}
    with _Refused():
        event.save()
    with _Refused():
        event.delete()
    with _Refused():
        Event.objects.all().delete()
    row = Event.objects.get(pk=event.pk)
    assert (row.data, row.request_id, row.position) == ({"note": "original"}, "", event.position)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE feed_event SET request_id = 'forged'",
        "UPDATE feed_event SET data = '{}'",
        "UPDATE feed_event SET position = position + 100",
        "UPDATE feed_event SET position = NULL",
        "UPDATE feed_event SET tenant_id = NULL",
        "DELETE FROM feed_event",
    ],
)
def test_raw_sql_updates_and_deletes_are_refused(event, statement):
    with _Refused():
        _sql(statement)
    assert Event.objects.get(pk=event.pk).position == event.position


def test_a_position_cannot_be_inserted():
    with _Refused():
        _sql(
            "INSERT INTO feed_event (type, occurred_at, data, request_id, position) "
            "VALUES ('deployment.created', %s, '{}', '', 1)",
            [datetime.now(UTC)],
        )
    assert Event.objects.count() == 0


@requires_postgres
def test_an_unpositioned_row_cannot_be_given_a_position_by_hand():
    # Inside its own transaction the row exists without a position; only the
    # commit-time trigger may set it.
    with transaction.atomic():
        record("deployment.created")
        pending = Event.objects.get()
        assert pending.position is None
        with _Refused():
            _sql("UPDATE feed_event SET position = 1 WHERE id = %s", [pending.pk])
        with _Refused():
            Event.objects.filter(pk=pending.pk).delete()


def test_the_watermark_only_rises(event):
    RetentionWatermark.objects.create(pruned_through=5)
    with _Refused():
        RetentionWatermark.objects.update(pruned_through=4)
    with _Refused():
        RetentionWatermark.objects.all().delete()
    RetentionWatermark.objects.update(pruned_through=6)
    assert RetentionWatermark.objects.get().pruned_through == 6


def test_rows_at_or_below_the_watermark_may_be_deleted_and_no_others(event):
    newer = record("deployment.created")
    read_all()
    newer = Event.objects.get(pk=newer.pk)
    RetentionWatermark.objects.create(pruned_through=event.position)
    with _Refused():
        Event.objects.filter(pk=newer.pk).delete()
    Event.objects.filter(pk=event.pk).delete()
    assert list(Event.objects.values_list("pk", flat=True)) == [newer.pk]


@pytest.mark.django_db(transaction=True)
def test_flush_still_empties_the_feed_and_keeps_the_guard():
    record("deployment.created")
    RetentionWatermark.objects.create(pruned_through=0)
    call_command("flush", interactive=False, verbosity=0)
    assert Event.objects.count() == RetentionWatermark.objects.count() == 0
    fresh = record("deployment.created", tenant_id=uuid.uuid4())
    with _Refused():
        Event.objects.filter(pk=fresh.pk).update(request_id="x")
    assert [e.id for e in read_all()] == [fresh.pk]
