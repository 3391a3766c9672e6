"""The only writers of feed events.

Every function here runs inside the caller's transaction (the one that
writes the fact), so an event commits with its fact or not at all, and gets
its position when that transaction commits (see the package docstring). The
returned rows have no position yet on PostgreSQL: it does not exist before
COMMIT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from arcadia_cloud.db import copy_text, server_binding_cursor
from feed.errors import RecordingOutsideTransaction
from feed.models import Event
from feed.types import check_type


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One row for `record_events`."""

    type: str
    tenant_id: UUID | None
    deployment_id: UUID | None
    data: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""
    occurred_at: datetime | None = None


def _require_transaction() -> None:
    # Outside a transaction the event would commit on its own, before (or
    # without) the fact it records.
    if not connection.in_atomic_block:
        raise RecordingOutsideTransaction(
            "feed events are recorded inside the transaction that writes the fact "
            "(wrap the write in transaction.atomic())"
        )


def record_event(
    *,
    type: str,
    tenant_id: UUID | None,
    deployment_id: UUID | None,
    data: dict[str, Any],
    request_id: str = "",
    occurred_at: datetime | None = None,
) -> Event:
    """Append one event. One INSERT; raises `UnknownEventType` for a type not
    in `EVENT_TYPES`, `RecordingOutsideTransaction` outside `atomic()`."""
    check_type(type)
    _require_transaction()
    return Event.objects.create(
        type=type,
        tenant_id=tenant_id,
        deployment_id=deployment_id,
        data=data,
        request_id=request_id or "",
        occurred_at=occurred_at or timezone.now(),
    )


_EVENT_TABLE = connection.ops.quote_name(Event._meta.db_table)
_INSERT_ONE_SQL = (
    f"INSERT INTO {_EVENT_TABLE} (type, tenant_id, deployment_id, occurred_at, data, request_id) "
    "VALUES (%s, %s, %s, %s, %s::jsonb, %s)"
)
_encode = DjangoJSONEncoder(separators=(",", ":")).encode


def record_event_with(
    *,
    with_sql: str,
    with_params: Sequence[Any],
    type: str,
    tenant_id: UUID | None,
    deployment_id: UUID | None,
    data: dict[str, Any],
    request_id: str = "",
    occurred_at: datetime,
) -> None:
    """`record_event`, sent in one statement after `with_sql` (a data-modifying
    `WITH name AS (INSERT ...)` the caller writes in the same transaction), so
    the fact and its event cost one round trip. The same checks and the same
    row as `record_event` (data encoded by the column's encoder); no instance
    is returned. PostgreSQL only (its data-modifying WITH)."""
    check_type(type)
    _require_transaction()
    with connection.cursor() as cursor:
        cursor.execute(
            f"{with_sql} {_INSERT_ONE_SQL}",
            [
                *with_params,
                type,
                tenant_id,
                deployment_id,
                occurred_at,
                _encode(data),
                request_id or "",
            ],
        )


#: Columns a bulk insert writes, in COPY order.
_COPY_COLUMNS = ("type", "tenant_id", "deployment_id", "occurred_at", "data", "request_id")


def record_events(rows: Sequence[NewEvent]) -> int:
    """Append many events in one statement, in the order given (that is their
    order in the feed). COPY on PostgreSQL, `bulk_create` elsewhere."""
    if not rows:
        return 0
    for row in rows:
        check_type(row.type)
    _require_transaction()
    now = timezone.now()
    if connection.vendor == "postgresql":
        encode = DjangoJSONEncoder(separators=(",", ":")).encode
        lines = []
        for row in rows:
            lines.append(
                "\t".join(
                    (
                        row.type,
                        "\\N" if row.tenant_id is None else str(row.tenant_id),
                        "\\N" if row.deployment_id is None else str(row.deployment_id),
                        (row.occurred_at or now).isoformat(),
                        copy_text(encode(row.data)),
                        copy_text(row.request_id or ""),
                    )
                )
            )
        columns = ", ".join(connection.ops.quote_name(c) for c in _COPY_COLUMNS)
        table = connection.ops.quote_name(Event._meta.db_table)
        with (
            server_binding_cursor() as cursor,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            copy.write("\n".join(lines) + "\n")
        return len(rows)
    Event.objects.bulk_create(
        [
            Event(
                type=row.type,
                tenant_id=row.tenant_id,
                deployment_id=row.deployment_id,
                data=row.data,
                request_id=row.request_id or "",
                occurred_at=row.occurred_at or now,
            )
            for row in rows
        ],
        batch_size=500,
    )
    return len(rows)


def record_events_from_select(*, type: str, select_sql: str, params: Sequence[Any] = ()) -> int:
    """Append one `type` event per row of `select_sql`, in one INSERT ... SELECT:
    for set-based writers (a batch that moves N rows writes N events in the
    same statement, no row passing through Python).

    `select_sql` must yield the columns `tenant_id`, `deployment_id`,
    `occurred_at`, `data` (JSON: `jsonb_build_object(...)` on PostgreSQL,
    `json_object(...)` on SQLite) and `request_id`, by those names, ids as
    the columns store them. Events get ids, and so positions, in the order
    the SELECT produces its rows (give it an ORDER BY). Returns the number of
    events written.
    """
    check_type(type)
    _require_transaction()
    sql = _insert_from_select("%s", select_sql)
    if connection.vendor == "postgresql":
        # Bound on the server: a batch passes thousands of ids as one array,
        # which client-side binding would quote into the SQL text.
        with server_binding_cursor() as cursor:
            cursor.execute(sql, [type, *params])
            return cursor.rowcount
    with connection.cursor() as cursor:
        cursor.execute(sql, [type, *params])
        return cursor.rowcount


def _insert_from_select(type_placeholder: str, select_sql: str) -> str:
    table = connection.ops.quote_name(Event._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _COPY_COLUMNS)
    return (
        f"INSERT INTO {table} ({columns}) "
        f"SELECT {type_placeholder}, s.tenant_id, s.deployment_id, s.occurred_at, s.data, "
        f"s.request_id FROM ({select_sql}) AS s"
    )


def events_from_select_statement(*, type: str, select_sql: str) -> tuple[str, dict[str, Any]]:
    """`record_events_from_select` as a statement the caller runs itself (SQL
    with named placeholders, and their values), PostgreSQL only: for a writer
    that puts it in a data-modifying `WITH` of a larger statement, so the facts
    and their events are written by one statement. The same rules: the caller
    runs it inside the transaction that writes the fact, `select_sql` yields
    the same columns, in the order the events are to get their positions."""
    check_type(type)
    _require_transaction()
    return _insert_from_select("%(feed_type)s", select_sql), {"feed_type": type}
