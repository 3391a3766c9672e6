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
    tenant. Returns the rows written.

    Normal dispatch also requires the event to be after the endpoint's
    `start_position`, skips existing pairs, and makes due now only the first
    delivery of each (endpoint, deployment) lane that has nothing pending
    yet: the others wait with no `next_attempt_at` until the one before them
    is done (the worker releases the next one; see `release_next`), so the
    claim never wades through a deployment's backlog. `replay` ignores the
    start and makes every matched pair due now, existing ones again (not
    while an attempt is in flight) with the attempts counted afresh; the
    claim's order check still sends each lane oldest first.
    """
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
    matched_params: list = [*wanted_params, after]
    if through is not None:
        where.append("ev.position <= %s")
        matched_params.append(through)
    columns = (
        f"INSERT INTO {DELIVERY_TABLE} (endpoint_id, event_id, position, deployment_id, "
        "event_type, status, attempts, scheduled_at, next_attempt_at, created_at, "
        "last_response, last_error) "
    )
    matched = (
        f"FROM {EVENT_TABLE} AS ev "
        f"JOIN {wanted} ON m.type = ev.type "
        f"JOIN {ENDPOINT_TABLE} AS ep ON ep.id = m.endpoint_id "
    )
    if replay:
        sql = (
            columns + "SELECT ep.id, ev.id, ev.position, ev.deployment_id, ev.type, 'pending', 0, "
            "%s, %s, %s, '', '' "
            + matched
            + f"WHERE {' AND '.join(where)} ORDER BY ev.position, ep.id "
            "ON CONFLICT (endpoint_id, event_id) DO UPDATE SET status = 'pending', attempts = 0, "
            "scheduled_at = excluded.scheduled_at, next_attempt_at = excluded.next_attempt_at, "
            "leased_until = NULL, delivered_at = NULL "
            f"WHERE {DELIVERY_TABLE}.leased_until IS NULL OR {DELIVERY_TABLE}.leased_until < %s"
        )
        params = [stamp, stamp, stamp, *matched_params, stamp]
    else:
        where.append("ev.position > ep.start_position")
        where.append(
            f"NOT EXISTS (SELECT 1 FROM {DELIVERY_TABLE} AS x "
            "WHERE x.endpoint_id = ep.id AND x.event_id = ev.id)"
        )
        sql = (
            columns + "SELECT s.endpoint_id, s.event_id, s.position, s.deployment_id, s.type, "
            "'pending', 0, %s, CASE WHEN s.deployment_id IS NULL OR (s.lane_rank = 1 "
            f"AND NOT EXISTS (SELECT 1 FROM {DELIVERY_TABLE} AS p "
            "WHERE p.endpoint_id = s.endpoint_id AND p.deployment_id = s.deployment_id "
            "AND p.status = 'pending')) THEN %s ELSE NULL END, %s, '', '' "
            "FROM (SELECT ep.id AS endpoint_id, ev.id AS event_id, ev.position, "
            "ev.deployment_id, ev.type, row_number() OVER "
            "(PARTITION BY ep.id, ev.deployment_id ORDER BY ev.position) AS lane_rank "
            + matched
            + f"WHERE {' AND '.join(where)}) AS s "
            "WHERE true ORDER BY s.position, s.endpoint_id "
            "ON CONFLICT (endpoint_id, event_id) DO NOTHING"
        )
        params = [stamp, stamp, stamp, *matched_params]
    if postgres:
        with server_binding_cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


#: The next delivery of one (endpoint, deployment) lane becomes due, if it was
#: waiting: run after a delivery of the lane is done (succeeded or failed).
RELEASE_NEXT_SQL = (
    f"UPDATE {DELIVERY_TABLE} SET next_attempt_at = %s WHERE id = ("
    f"SELECT id FROM {DELIVERY_TABLE} WHERE endpoint_id = %s AND deployment_id = %s "
    "AND status = 'pending' ORDER BY position LIMIT 1) AND next_attempt_at IS NULL"
)


def lock_lanes_shared() -> None:
    """Taken by whoever finishes deliveries (and releases the next of their
    lane) until its transaction ends: shared among workers, exclusive with
    the dispatcher, so a delivery the dispatcher inserts as waiting always
    sees the one before it still pending, or is released by its finisher."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [DISPATCH_LOCK_KEY])
