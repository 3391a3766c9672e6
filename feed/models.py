"""The feed's tables: `feed_event` (append-only; see the package docstring for
how `position` is assigned) and `feed_watermark` (one row: how far retention
has pruned)."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from feed.types import EVENT_TYPES, TYPE_MAX_LENGTH


class Event(models.Model):
    """One fact, in the order it committed.

    `id` is handed out at insert and says nothing about commit order; the feed
    is read by `position`, assigned when the writing transaction commits (null
    until then). Nothing updates or deletes a row, except the database setting
    `position` once and retention pruning below the watermark.
    """

    id = models.BigAutoField(primary_key=True)
    position = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    type = models.CharField(max_length=TYPE_MAX_LENGTH)
    # Plain UUIDs, not foreign keys: every app records into the feed, and the
    # feed outlives (and never locks) the rows it talks about.
    tenant_id = models.UUIDField(null=True, blank=True)
    deployment_id = models.UUIDField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    data = models.JSONField(encoder=DjangoJSONEncoder, default=dict)
    request_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        db_table = "feed_event"
        constraints = [
            models.CheckConstraint(condition=Q(type__in=EVENT_TYPES), name="feed_event_type_known"),
        ]
        indexes = [
            # Tenant-scoped and per-deployment reads walk these in position order.
            models.Index(fields=["tenant_id", "position"], name="feed_event_tenant_position"),
            models.Index(
                fields=["deployment_id", "position"], name="feed_event_deployment_position"
            ),
            # The commit-time UPDATE finds its transaction's rows through this
            # (tiny: only in-flight rows are in it).
            models.Index(
                fields=["id"], condition=Q(position__isnull=True), name="feed_event_unpositioned"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.position or '-'}"


class RetentionWatermark(models.Model):
    """At most one row (id 1): every event at or below `pruned_through` has
    been pruned. A cursor below it answers 410. Raised before each pruning
    batch, in the batch's transaction; the database refuses to lower it."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    pruned_through = models.BigIntegerField(default=0)
    pruned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "feed_watermark"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="feed_watermark_one_row")]

    def __str__(self) -> str:
        return f"pruned through {self.pruned_through}"
