"""Positions are handed out at commit, in commit order (PostgreSQL), and a
transaction reads its own events before committing."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, transaction

from feed.cursor import Anchor
from feed.models import Event
from feed.record import record_event
from feed.selectors import read_feed
from tests.conftest import requires_postgres
from tests.feed.conftest import read_all, record
from tests.threads import run_threads

TENANT = uuid.UUID("11111111-1111-4111-8111-111111111111")


def _record(label: str) -> Event:
    return record_event(
        type="deployment.transitioned", tenant_id=TENANT, deployment_id=None, data={"label": label}
    )


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_transaction_that_inserts_first_but_commits_last_comes_last():
    # Given A inserts (lower id) and holds its transaction open while B
    # inserts (higher id) and commits,
    a_inserted, b_committed = threading.Event(), threading.Event()
    seen_between: list[list[str]] = []

    def role(i: int) -> None:
        if i == 0:
            with transaction.atomic():
                _record("A")
                a_inserted.set()
                assert b_committed.wait(10)
                # a reader between B's commit and A's sees B only
                seen_between.append([e.data["label"] for e in _read_elsewhere()])
        else:
            assert a_inserted.wait(10)
            with transaction.atomic():
                _record("B")
            b_committed.set()

    assert run_threads(2, role) == []
    # then B is before A in the feed although A's id is lower.
    events = read_all()
    assert [e.data["label"] for e in events] == ["B", "A"]
    assert events[0].id > events[1].id
    assert events[0].position < events[1].position
    assert seen_between == [["B"]]


def _read_elsewhere():
    """read_all on a fresh connection, in autocommit (as another process would)."""
    result = []

    def reader(_):
        result.extend(read_all())

    assert run_threads(1, reader) == []
    return result


@pytest.mark.django_db
def test_a_transaction_reads_its_own_events_before_commit():
    with transaction.atomic():
        first = _record("first")
        assert [e.id for e in read_all()] == [first.pk]
        # Rows written after a read are positioned too (at commit, or at the next read).
        second = _record("second")
        assert [e.id for e in read_all()] == [first.pk, second.pk]


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_rows_written_after_an_own_read_are_positioned_at_commit():
    with transaction.atomic():
        first = _record("first")
        read_all()
        second = _record("second")
    positions = dict(Event.objects.values_list("id", "position"))
    assert positions[first.pk] < positions[second.pk]


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_read_in_a_rolled_back_savepoint_does_not_leave_rows_unpositioned():
    # The read positions the outer row inside the savepoint; rolling the
    # savepoint back undoes that, and the commit positions it again.
    with transaction.atomic():
        outer = _record("outer")
        try:
            with transaction.atomic():
                inner = _record("inner")
                assert [e.id for e in read_all()] == [outer.pk, inner.pk]
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
    assert list(Event.objects.values_list("id", flat=True)) == [outer.pk]
    assert Event.objects.get(pk=outer.pk).position is not None
    assert [e.id for e in read_all()] == [outer.pk]


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_leaves_nothing_and_the_next_commit_is_read():
    def write_then_fail():
        with transaction.atomic():
            _record("never")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        write_then_fail()
    kept = record("deployment.created", tenant_id=TENANT)
    assert [e.id for e in read_all()] == [kept.pk]
    assert Event.objects.filter(position__isnull=True).count() == 0


@pytest.mark.django_db(transaction=True)
def test_head_is_the_newest_committed_position():
    empty = read_feed(tenant_id=None, after=Anchor.HEAD, types=None, deployment_id=None, limit=1)
    assert (empty.events, empty.has_more) == ([], False)
    record("deployment.created")
    newest = record("deployment.created")
    head = read_feed(tenant_id=None, after=Anchor.HEAD, types=None, deployment_id=None, limit=5)
    assert head.events == []
    assert head.next_position == Event.objects.get(pk=newest.pk).position
    assert not head.has_more
    later = record("deployment.created")
    assert [e.id for e in read_all(after=head.next_position)] == [later.pk]


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_the_commit_notifies_the_highest_position():
    import psycopg

    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(key, None)
    with psycopg.connect(**params, autocommit=True) as listening:
        listening.execute("LISTEN arcadia_feed")
        with transaction.atomic():
            _record("one")
            last = _record("two")
        payloads = [n.payload for n in listening.notifies(timeout=2, stop_after=1)]
    assert payloads == [str(Event.objects.get(pk=last.pk).position)]
