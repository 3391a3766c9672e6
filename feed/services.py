"""Writes to the feed other than recording: retention pruning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from feed.models import Event
from feed.sql import WATERMARK_TABLE

DEFAULT_PRUNE_BATCH = 10_000


@dataclass(frozen=True)
class PruneResult:
    pruned: int
    pruned_through: int
    cutoff: datetime


def prune_events(
    *,
    now: datetime | None = None,
    retention_days: int | None = None,
    batch_size: int = DEFAULT_PRUNE_BATCH,
) -> PruneResult:
    """Delete the events older than the retention period, oldest first, in
    batches of `batch_size`, each in its own transaction.

    Invariant: the pruned events are always a prefix of the feed (positions
    up to the watermark), so a cursor at or above the watermark has lost
    nothing after it, and one below it answers 410. Pruning stops at the first
    event that is not old enough, even if older ones follow (an event's time
    is when its fact happened, not its commit order): those wait for a later
    run rather than leaving a hole behind a cursor.

    Each batch raises the watermark first and deletes up to it in the same
    transaction (the database refuses to delete above the watermark). Locks:
    the watermark row, so two prunes at once take turns.
    """
    retention_days = (
        settings.ARCADIA_EVENT_RETENTION_DAYS if retention_days is None else retention_days
    )
    cutoff = (now or timezone.now()) - timedelta(days=retention_days)
    pruned = 0
    while True:
        with transaction.atomic():
            watermark = _lock_watermark()
            batch = list(
                Event.objects.filter(position__gt=watermark)
                .order_by("position")
                .values_list("position", "occurred_at")[:batch_size]
            )
            through = watermark
            for position, occurred_at in batch:
                if occurred_at >= cutoff:
                    break
                through = position
            if through == watermark:
                return PruneResult(pruned=pruned, pruned_through=watermark, cutoff=cutoff)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {WATERMARK_TABLE} SET pruned_through = %s, pruned_at = %s "
                    "WHERE id = 1",
                    [through, timezone.now()],
                )
            deleted, _ = Event.objects.filter(
                position__gt=watermark, position__lte=through
            ).delete()
            pruned += deleted
            if through != batch[-1][0]:  # stopped at an event to keep
                return PruneResult(pruned=pruned, pruned_through=through, cutoff=cutoff)


def _lock_watermark() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {WATERMARK_TABLE} (id, pruned_through) VALUES (1, 0) "
            "ON CONFLICT (id) DO NOTHING"
        )
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        cursor.execute(f"SELECT pruned_through FROM {WATERMARK_TABLE} WHERE id = 1{lock}")
        return cursor.fetchone()[0]
