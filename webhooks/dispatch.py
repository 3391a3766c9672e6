"""From the feed to deliveries: the outbox side of webhooks.

The feed is the transactional outbox: every fact commits together with its
feed event, and an event gets its position at commit (feed package
docstring), so a rolled-back fact has no event and a committed one has an
event that every reader following positions will see. `dispatch` follows
the feed from `DispatchCursor.position` exactly like `read_feed` does and,
for each event, creates one `Delivery` per enabled endpoint that wants it
(same tenant, or a platform-wide endpoint; a type pattern that matches;
created before the event committed), in ONE set-based INSERT ... SELECT
that also skips pairs that already exist, and moves the cursor in the same
transaction. So each committed event gets its deliveries exactly once.

Why a bound: the events read are those with position > cursor, up to the
highest position of the first `batch` events (`bound`), as one statement
sees them; any snapshot that sees position N sees every position below N
that will ever exist, so the INSERT (a later statement) finds exactly the
events up to `bound`, and the cursor moves to `bound`.

One dispatcher at a time: a transaction-scoped advisory lock (PostgreSQL).
Creating, re-enabling and deleting an endpoint take the same lock, so an
endpoint is either seen by a dispatch or created after it (then its
`start_position`, the feed head under the lock, is at or above the dispatch's
bound): no event falls between.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from arcadia_cloud.db import server_binding_cursor
from feed.selectors import feed_head
from feed.sql import EVENT_TABLE, SETTLE_PENDING_SQL
from feed.types import EVENT_TYPES, BadTypePattern, expand_patterns
from webhooks.models import Delivery, DispatchCursor, WebhookEndpoint

#: pg_advisory_xact_lock key of the dispatcher ("arcwhdsp" in ASCII).
DISPATCH_LOCK_KEY = 7021792446137463920
#: Workers LISTEN here too: deliveries were created or made due by someone else.
WAKE_CHANNEL = "arcadia_webhooks"
DEFAULT_BATCH = 5000

DELIVERY_TABLE = Delivery._meta.db_table
ENDPOINT_TABLE = WebhookEndpoint._meta.db_table
CURSOR_TABLE = DispatchCursor._meta.db_table


@dataclass(frozen=True, slots=True)
class DispatchResult:
    events: int  # events read past the cursor (0: nothing new)
    deliveries: int  # deliveries created
    position: int  # the cursor afterwards


def lock_dispatch() -> None:
    """Take the dispatcher's lock until the transaction ends (PostgreSQL; SQLite
    has one writer at a time anyway)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DISPATCH_LOCK_KEY])


def settle_own_events() -> None:
    """Position the events this transaction wrote itself, so it reads them
    (as `read_feed` does): none in a worker's own transaction, but a caller
    that records and dispatches in one transaction (a test) sees its events."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(SETTLE_PENDING_SQL)


def wake_workers() -> None:
    """Tell idle workers (at commit) that deliveries became due."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [WAKE_CHANNEL])


def types_of(patterns: Iterable[str]) -> list[str]:
    """The exact types an endpoint's patterns select now (empty: every type).
    A pattern that no longer matches anything selects nothing."""
    patterns = list(patterns)
    if not patterns:
        return list(EVENT_TYPES)
    selected: set[str] = set()
    for pattern in patterns:
        try:
            selected.update(expand_patterns([pattern]))
        except BadTypePattern:
            continue
    return [t for t in EVENT_TYPES if t in selected]


def needs_dispatch() -> bool:
    """A cheap check without the lock: are there events past the cursor?"""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT max(position) FROM {EVENT_TABLE}), "
            f"(SELECT position FROM {CURSOR_TABLE} WHERE id = 1)"
        )
        head, position = cursor.fetchone()
    return head is not None and (position is None or head > position)


def dispatch(*, batch: int = DEFAULT_BATCH, now: datetime | None = None) -> DispatchResult:
    """Create the deliveries of up to `batch` events past the cursor, and move it.

    Queries: the lock, the cursor (created at first use), the bound, the
    endpoints, one INSERT ... SELECT, the cursor update (and a NOTIFY).
    """
    now = now or timezone.now()
    with transaction.atomic():
        settle_own_events()
        lock_dispatch()
        position = _locked_cursor()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT max(position) FROM (SELECT position FROM {EVENT_TABLE} "
                "WHERE position > %s ORDER BY position LIMIT %s) AS s",
                [position, batch],
            )
            bound = cursor.fetchone()[0]
        if bound is None:
            return DispatchResult(events=0, deliveries=0, position=position)
        endpoints = WebhookEndpoint.objects.filter(enabled=True, start_position__lt=bound)
        pairs = [
            (endpoint_id, type_)
            for endpoint_id, types in endpoints.values_list("id", "types")
            for type_ in types_of(types)
        ]
        created = insert_deliveries(pairs, after=position, through=bound, now=now)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {CURSOR_TABLE} SET position = %s, updated_at = %s WHERE id = 1",
                [bound, connection.ops.adapt_datetimefield_value(now)],
            )
            cursor.execute(
                f"SELECT count(*) FROM {EVENT_TABLE} WHERE position > %s AND position <= %s",
                [position, bound],
            )
            events = cursor.fetchone()[0]
        if created:
            wake_workers()
        return DispatchResult(events=events, deliveries=created, position=bound)


def _locked_cursor() -> int:
    """The cursor's position (the caller holds the dispatch lock). Created at
    first use where no event an endpoint wants can be behind it: the feed
    head, or the oldest endpoint's start if that is lower."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT position FROM {CURSOR_TABLE} WHERE id = 1")
        row = cursor.fetchone()
        if row is not None:
            return row[0]
        starts = WebhookEndpoint.objects.filter(enabled=True).values_list(
            "start_position", flat=True
        )
        start = min([feed_head(), *starts])
        cursor.execute(
            f"INSERT INTO {CURSOR_TABLE} (id, position, updated_at) VALUES (1, %s, %s)",
            [start, connection.ops.adapt_datetimefield_value(timezone.now())],
        )
        return start


def insert_deliveries(
    pairs: list[tuple[UUID, str]],
    *,
    after: int,
    through: int | None,
    now: datetime,
    replay: bool = False,
) -> int:
    """One INSERT ... SELECT: a delivery for each event with `after` < position
    <= `through` (no upper bound when None) and each (endpoint, type) pair
    that matches it, where the endpoint is enabled and sees the event's
    tenant. Normal dispatch also requires the event to be after the
    endpoint's `start_position` and skips existing pairs; `replay` ignores
    the start and makes existing pairs due again (not while an attempt is in
    flight), counting the attempts afresh. Returns the rows written."""
    if not pairs:
        return 0
    postgres = connection.vendor == "postgresql"
    if postgres:
        wanted = "unnest(%s::uuid[], %s::text[]) AS m(endpoint_id, type)"
        wanted_params: list = [[p[0] for p in pairs], [p[1] for p in pairs]]
    else:
        wanted = (
            "(SELECT json_extract(value, '$[0]') AS endpoint_id, "
            "json_extract(value, '$[1]') AS type FROM json_each(%s)) AS m"
        )
        wanted_params = [json.dumps([[UUID(str(p[0])).hex, p[1]] for p in pairs])]
    stamp = connection.ops.adapt_datetimefield_value(now)
    where = [
        "ev.position > %s",
        "ep.enabled",
        "(ep.tenant_id IS NULL OR ep.tenant_id = ev.tenant_id)",
    ]
    params: list = [stamp, stamp, stamp, *wanted_params, after]
    if through is not None:
        where.append("ev.position <= %s")
        params.append(through)
    if not replay:
        where.append("ev.position > ep.start_position")
    if replay:
        conflict = (
            "DO UPDATE SET status = 'pending', attempts = 0, scheduled_at = excluded.scheduled_at, "
            "next_attempt_at = excluded.next_attempt_at, leased_until = NULL, delivered_at = NULL "
            f"WHERE {DELIVERY_TABLE}.leased_until IS NULL OR {DELIVERY_TABLE}.leased_until < %s"
        )
        params.append(stamp)
    else:
        conflict = "DO NOTHING"
    sql = (
        f"INSERT INTO {DELIVERY_TABLE} (endpoint_id, event_id, position, deployment_id, "
        "event_type, status, attempts, scheduled_at, next_attempt_at, created_at, "
        "last_response, last_error) "
        "SELECT ep.id, ev.id, ev.position, ev.deployment_id, ev.type, 'pending', 0, "
        "%s, %s, %s, '', '' "
        f"FROM {EVENT_TABLE} AS ev "
        f"JOIN {wanted} ON m.type = ev.type "
        f"JOIN {ENDPOINT_TABLE} AS ep ON ep.id = m.endpoint_id "
        f"WHERE {' AND '.join(where)} "
        "ORDER BY ev.position, ep.id "
        f"ON CONFLICT (endpoint_id, event_id) {conflict}"
    )
    if postgres:
        with server_binding_cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
