"""Reading the feed: by position, after a cursor, in one query per page.

Scoping is the caller's business (the API passes the identity's tenant, or
None for a platform admin); this module only filters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from feed.cursor import Anchor
from feed.errors import BadFeedQuery, CursorExpired
from feed.models import Event
from feed.sql import EVENT_TABLE, SETTLE_PENDING_SQL, WATERMARK_TABLE
from feed.types import EVENT_TYPES, BadTypePattern, expand_patterns

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

_COLUMNS = (
    "id",
    "position",
    "type",
    "tenant_id",
    "deployment_id",
    "occurred_at",
    "data",
    "request_id",
)
_WATERMARK = f"coalesce((SELECT pruned_through FROM {WATERMARK_TABLE} WHERE id = 1), 0)"


@dataclass(frozen=True, slots=True)
class FeedEvent:
    id: int
    position: int
    type: str
    tenant_id: UUID | None
    deployment_id: UUID | None
    occurred_at: datetime
    #: `data` as the database returns it (JSON text): the feed's answers and
    #: webhook bodies embed it as is, without decoding and re-encoding it.
    data_json: str
    request_id: str

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.data_json)


@dataclass(frozen=True, slots=True)
class FeedPage:
    events: list[FeedEvent]
    #: the cursor position to read after next (the last event's, or where the
    #: read started when nothing came)
    next_position: int
    has_more: bool


def read_feed(
    *,
    tenant_id: UUID | None,
    after: int | Anchor,
    types: list[str] | None,
    deployment_id: UUID | None,
    limit: int,
) -> FeedPage:
    """Up to `limit` events with position > `after`, in position order.

    `tenant_id` None reads every tenant. `types` entries are exact types or
    prefixes ending in `*`; None or empty reads every type. `after` is a
    position or an anchor (`Anchor.OLDEST`: the oldest retained event;
    `Anchor.HEAD`: the newest committed one, so the page is empty and
    `next_position` is the head).

    One query (a second, inside a transaction on PostgreSQL, positions the
    transaction's own pending events so it reads its own writes). The
    watermark is read in the same statement as the events, so a concurrent
    prune either happened before (410) or did not touch what was read.

    Raises `BadFeedQuery` (limit, types) and `CursorExpired` (a position below
    the retention watermark).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise BadFeedQuery("limit", f"Must be an integer between 1 and {MAX_LIMIT}.")
    selected = _selected_types(types)
    _settle_own_pending()
    if after is Anchor.HEAD:
        return FeedPage(events=[], next_position=feed_head(), has_more=False)

    where = ["position > %s"]
    params: list[Any] = [0 if after is Anchor.OLDEST else after]
    if tenant_id is not None:
        where.append("tenant_id = %s")
        params.append(_uuid_param("tenant_id", tenant_id))
    if deployment_id is not None:
        where.append("deployment_id = %s")
        params.append(_uuid_param("deployment_id", deployment_id))
    if selected is not None:
        where.append(f"type IN ({', '.join(['%s'] * len(selected))})")
        params.extend(selected)
    params.append(limit + 1)
    columns = ", ".join(f"e.{c}" for c in _COLUMNS)
    sql = (
        f"SELECT w.pruned_through, {columns} "
        f"FROM (SELECT {_WATERMARK} AS pruned_through) AS w "
        f"LEFT JOIN (SELECT {', '.join(_COLUMNS)} FROM {EVENT_TABLE} "
        f"WHERE {' AND '.join(where)} ORDER BY position LIMIT %s) AS e ON 1 = 1 "
        "ORDER BY e.position"
    )
    with connection.cursor() as cursor:
        _fast_timestamps(cursor)
        cursor.execute(sql, params)
        rows = cursor.fetchall()

    pruned_through = rows[0][0]
    if after is Anchor.OLDEST:
        start = pruned_through
    else:
        if after < pruned_through:
            raise CursorExpired(after=after, pruned_through=pruned_through)
        start = after
    if rows[0][1] is None:  # the LEFT JOIN's empty side: no event
        return FeedPage(events=[], next_position=start, has_more=False)
    has_more = len(rows) > limit
    to_event = _event_from_postgres if connection.vendor == "postgresql" else _event_from_sqlite
    events = [to_event(*row) for row in (rows[:limit] if has_more else rows)]
    return FeedPage(events=events, next_position=events[-1].position, has_more=has_more)


def feed_head() -> int:
    """The position after which only events not yet committed will appear:
    the highest committed position (or the watermark, when everything has
    been pruned). Anything committing later gets a higher position."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_WATERMARK}, (SELECT max(position) FROM {EVENT_TABLE})")
        pruned_through, newest = cursor.fetchone()
    return max(pruned_through, newest or 0)


def retention_watermark() -> int:
    """Every event at or below this position has been pruned."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_WATERMARK}")
        return cursor.fetchone()[0]


def _selected_types(types: list[str] | None) -> list[str] | None:
    if not types:
        return None
    try:
        selected = expand_patterns(types)
    except BadTypePattern as exc:
        raise BadFeedQuery("types", str(exc)) from None
    return None if len(selected) == len(EVENT_TYPES) else selected


def _settle_own_pending() -> None:
    # Positions are assigned at COMMIT; a transaction that wrote events and
    # reads the feed before committing would not see them. Running the
    # deferred trigger now positions them (taking the feed lock until this
    # transaction ends: read last in a writing transaction). Outside a
    # transaction there is nothing pending; SQLite positions at insert.
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(SETTLE_PENDING_SQL)


def _fast_timestamps(cursor) -> None:
    """Load this cursor's timestamps with psycopg's C loader.

    Django registers a Python loader for timestamptz (to pin the time zone);
    on a page of 1,000 events it costs more than the query. psycopg's own
    loader returns the same instants, in the session's time zone (UTC: Django
    sets it), about 10 µs an event cheaper. Only this cursor is affected.
    """
    if connection.vendor != "postgresql":
        return
    import psycopg
    from psycopg.pq import Format

    raw = cursor.cursor
    oid = psycopg.postgres.types["timestamptz"].oid
    raw.adapters.register_loader(oid, psycopg.adapters.get_loader(oid, Format.TEXT))


def _uuid_param(name: str, value: UUID) -> Any:
    return Event._meta.get_field(name).get_db_prep_value(value, connection)


def _event_from_postgres(
    _, id_, position, type_, tenant_id, deployment_id, occurred_at, data, request_id
) -> FeedEvent:
    # psycopg returns UUIDs and aware datetimes; Django loads jsonb as text.
    return FeedEvent(id_, position, type_, tenant_id, deployment_id, occurred_at, data, request_id)


def _event_from_sqlite(
    _, id_, position, type_, tenant_id, deployment_id, occurred_at, data, request_id
) -> FeedEvent:
    if isinstance(occurred_at, str):
        occurred_at = datetime.fromisoformat(occurred_at)
    return FeedEvent(
        id_,
        position,
        type_,
        UUID(tenant_id) if tenant_id else None,
        UUID(deployment_id) if deployment_id else None,
        occurred_at.replace(tzinfo=UTC) if occurred_at.tzinfo is None else occurred_at,
        data,
        request_id,
    )


def latest_events(
    *,
    deployment_id: UUID | None = None,
    tenant_id: UUID | None = None,
    before: int | None = None,
    limit: int,
) -> FeedPage:
    """Up to `limit` committed events, NEWEST first, of one deployment or one
    tenant (or every one), with position < `before` when given: the history
    pages of the console. One query, walking the (deployment_id, position) or
    (tenant_id, position) index backwards; `has_more` says whether older events
    exist and `next_position` is the `before` that reads them."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadFeedQuery("limit", f"Must be an integer between 1 and {MAX_LIMIT}.")
    _settle_own_pending()
    rows = Event.objects.filter(position__isnull=False)
    if deployment_id is not None:
        rows = rows.filter(deployment_id=deployment_id)
    if tenant_id is not None:
        rows = rows.filter(tenant_id=tenant_id)
    if before is not None:
        rows = rows.filter(position__lt=before)
    found = list(rows.order_by("-position").values_list(*_COLUMNS)[: limit + 1])
    has_more = len(found) > limit
    events = [
        FeedEvent(
            id_,
            position,
            type_,
            tenant,
            deployment,
            occurred_at,
            json.dumps(data, cls=DjangoJSONEncoder),
            request_id,
        )
        for id_, position, type_, tenant, deployment, occurred_at, data, request_id in found[:limit]
    ]
    return FeedPage(
        events=events,
        next_position=events[-1].position if events else (before or 0),
        has_more=has_more,
    )
