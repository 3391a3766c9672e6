"""Reads of webhook endpoints and deliveries, narrowed to the actor's scope.

A tenant identity sees its own tenant's endpoints; whoever sees every
tenant (a platform admin, the console) also sees platform-wide ones (no
tenant). Anything else is absent, so the API answers 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from django.db import connection
from django.db.models import Q, QuerySet

from arcadia_cloud.actors import Actor
from arcadia_cloud.scope import scope_for
from feed.sql import EVENT_TABLE, SETTLE_PENDING_SQL
from webhooks.models import Delivery, DispatchCursor, WebhookEndpoint


def endpoints_visible_to(actor: Actor) -> QuerySet[WebhookEndpoint]:
    return scope_for(actor).filter(WebhookEndpoint.objects.all()).order_by("created_at", "id")


def get_endpoint_visible_to(actor: Actor, endpoint_id: UUID | str) -> WebhookEndpoint | None:
    return endpoints_visible_to(actor).filter(pk=endpoint_id).first()


def deliveries_of(endpoint: WebhookEndpoint) -> QuerySet[Delivery]:
    """The endpoint's delivery log (the API pages it newest event first)."""
    return Delivery.objects.filter(endpoint=endpoint)


def failing_endpoints() -> QuerySet[WebhookEndpoint]:
    """Endpoints whose deliveries fail: enabled but failing since an attempt
    (no success since), or disabled by the worker (410, or 3 days of failure)."""
    return WebhookEndpoint.objects.filter(
        Q(enabled=True, failing_since__isnull=False) | Q(enabled=False, disabled_at__isnull=False)
    ).order_by()


@dataclass(frozen=True)
class DispatchLag:
    """How far webhook dispatch is behind the feed: `head` is the newest
    committed position, `cursor` the position through which every event has
    its deliveries; `behind` counts the events between them (at most
    LAG_COUNT_CAP, `capped` when there are more) and `oldest_at` is when the
    oldest of them happened (None when dispatch is caught up)."""

    head: int
    cursor: int
    behind: int
    capped: bool
    oldest_at: datetime | None


#: The lag count stops here (the tile says "more than"): the count must stay
#: cheap when dispatch is far behind.
LAG_COUNT_CAP = 10_000


def dispatch_lag() -> DispatchLag:
    """The feed's lag behind webhook dispatch, in one query."""
    cursor_table = DispatchCursor._meta.db_table
    sql = (
        f"WITH c AS (SELECT coalesce((SELECT position FROM {cursor_table} WHERE id = 1), 0) AS p) "
        f"SELECT (SELECT max(position) FROM {EVENT_TABLE}), c.p, "
        f"(SELECT count(*) FROM (SELECT 1 FROM {EVENT_TABLE} e WHERE e.position > c.p "
        f"LIMIT {LAG_COUNT_CAP + 1}) AS x), "
        f"(SELECT e.occurred_at FROM {EVENT_TABLE} e WHERE e.position > c.p "
        "ORDER BY e.position LIMIT 1) FROM c"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and connection.in_atomic_block:
            # A transaction that wrote events sees them positioned (as
            # read_feed does); outside one, nothing is pending.
            cursor.execute(SETTLE_PENDING_SQL)
        cursor.execute(sql)
        head, position, behind, oldest_at = cursor.fetchone()
    if isinstance(oldest_at, str):  # SQLite
        oldest_at = datetime.fromisoformat(oldest_at)
    if oldest_at is not None and oldest_at.tzinfo is None:
        oldest_at = oldest_at.replace(tzinfo=UTC)
    return DispatchLag(
        head=max(head or 0, position),
        cursor=position,
        behind=min(behind, LAG_COUNT_CAP),
        capped=behind > LAG_COUNT_CAP,
        oldest_at=oldest_at,
    )
