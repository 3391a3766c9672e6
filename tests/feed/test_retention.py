"""Retention: prune_events removes the old prefix of the feed and raises the
watermark; a cursor below the watermark is expired (410), never silently
skipping what was pruned."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction

from feed.cursor import Anchor, encode_cursor
from feed.errors import CursorExpired
from feed.models import Event, RetentionWatermark
from feed.record import NewEvent, record_events
from feed.selectors import read_feed, retention_watermark
from feed.services import prune_events
from tests.feed.conftest import read_all

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, tzinfo=UTC)
TENANT = uuid.UUID("11111111-1111-4111-8111-111111111111")


def _events_aged(*days_ago: float) -> list[int]:
    """One event per age, in this order; their positions."""
    with transaction.atomic():
        record_events(
            [
                NewEvent(
                    "resource.updated",
                    TENANT,
                    None,
                    {"age": age},
                    occurred_at=NOW - timedelta(days=age),
                )
                for age in days_ago
            ]
        )
    return [e.position for e in read_all()]


def test_prunes_the_old_prefix_in_batches_and_raises_the_watermark(settings):
    settings.ARCADIA_EVENT_RETENTION_DAYS = 90
    positions = _events_aged(200, 150, 120, 91, 89, 10)
    result = prune_events(now=NOW, batch_size=2)
    assert (result.pruned, result.pruned_through) == (4, positions[3])
    assert [e.data["age"] for e in read_all()] == [89, 10]
    assert RetentionWatermark.objects.get().pruned_through == positions[3]
    # idempotent
    assert prune_events(now=NOW).pruned == 0


def test_stops_at_the_first_event_to_keep_even_if_older_ones_follow(settings):
    # Event time is when the fact happened, not commit order: an old event
    # committed late waits, rather than leaving a hole behind a cursor.
    settings.ARCADIA_EVENT_RETENTION_DAYS = 90
    _events_aged(100, 10, 100)
    assert prune_events(now=NOW).pruned == 1
    assert [e.data["age"] for e in read_all()] == [10, 100]


def test_a_cursor_below_the_watermark_is_expired_and_one_at_it_is_not(settings):
    settings.ARCADIA_EVENT_RETENTION_DAYS = 90
    positions = _events_aged(120, 100, 5)
    prune_events(now=NOW)
    read = dict(tenant_id=None, types=None, deployment_id=None, limit=10)
    with pytest.raises(CursorExpired) as expired:
        read_feed(after=positions[0], **read)
    assert expired.value.body() == {"error": "cursor_expired"}
    with pytest.raises(CursorExpired):
        read_feed(after=0, **read)
    page = read_feed(after=positions[1], **read)
    assert [e.position for e in page.events] == [positions[2]]
    # no cursor: from the oldest retained event; now: the head
    assert [e.position for e in read_feed(after=Anchor.OLDEST, **read).events] == [positions[2]]
    assert read_feed(after=Anchor.HEAD, **read).next_position == positions[2]


def test_when_everything_was_pruned_the_start_is_the_watermark(settings):
    settings.ARCADIA_EVENT_RETENTION_DAYS = 1
    positions = _events_aged(30, 20)
    prune_events(now=NOW)
    read = dict(tenant_id=None, types=None, deployment_id=None, limit=10)
    oldest = read_feed(after=Anchor.OLDEST, **read)
    assert (oldest.events, oldest.next_position) == ([], positions[1])
    assert read_feed(after=Anchor.HEAD, **read).next_position == positions[1]
    assert retention_watermark() == positions[1]


def test_the_api_answers_410_for_an_expired_cursor(settings, admin_client_api):
    settings.ARCADIA_EVENT_RETENTION_DAYS = 90
    positions = _events_aged(120, 100, 5)
    prune_events(now=NOW)
    response = admin_client_api.get(f"/api/v1/events?after={encode_cursor(positions[0])}")
    assert response.status_code == 410
    assert response.json() == {"error": "cursor_expired"}
    assert Event.objects.count() == 1


def test_the_command_prunes_with_the_configured_retention(settings):
    settings.ARCADIA_EVENT_RETENTION_DAYS = 30
    now = datetime.now(UTC)
    with transaction.atomic():
        record_events(
            [
                NewEvent("resource.created", TENANT, None, occurred_at=now - timedelta(days=31)),
                NewEvent("resource.created", TENANT, None, occurred_at=now - timedelta(days=29)),
            ]
        )
    read_all()  # positioned: the test's transaction never commits
    out = StringIO()
    call_command("prune_events", "--batch-size", "1", stdout=out)
    assert "pruned 1 events" in out.getvalue()
    assert "(30 days)" in out.getvalue()
    assert Event.objects.count() == 1
