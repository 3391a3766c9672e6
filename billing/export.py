"""Statements for the invoicing system: one record per statement line, streamed.

`manage.py export_statements --period YYYY-MM` writes every statement of a
period, whatever the tenant, as CSV (a header, then one row per line) or JSON
Lines (one object per line, the same fields, JSON-typed). A record carries the
statement's fields (SPEC §6: id, subscription, deployment, period, currency,
total, closing time) beside the line's own, so each row stands alone in a
spreadsheet or a loader; `line` numbers the statement's lines from 1. A
statement with no line (a month spent paused) still gives one record, its
line fields empty, so every statement of the period is in the export.

Amounts are integer minor units of `currency` (as stored: JPY has none, so
1500 is 1,500 yen), times ISO 8601 in UTC, as in the API.

Memory is constant in the number of statements: the rows come from a
server-side cursor in chunks of `CHUNK_SIZE` (in one transaction, so the
cursor needs no WITH HOLD copy) and each record is written as soon as it is
read.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TextIO

from django.db import transaction

from billing.models import Statement
from billing.statements import Period

CHUNK_SIZE = 2000

STATEMENT_FIELDS = (
    "statement_id",
    "subscription_id",
    "deployment_id",
    "period_start",
    "period_end",
    "currency",
    "total_cents",
    "closed_at",
)
LINE_FIELDS = (
    "line",
    "kind",
    "code",
    "description",
    "plan_version",
    "addon_line_id",
    "unit_price_cents",
    "starts_at",
    "ends_at",
    "amount_cents",
)
FIELDS = STATEMENT_FIELDS + LINE_FIELDS
FORMATS = ("csv", "jsonl")

_PERIOD = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])", re.ASCII)


def parse_period(text: str) -> Period:
    """`YYYY-MM` -> that calendar month; ValueError with a message otherwise."""
    match = _PERIOD.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or int(match[1]) < 1:
        raise ValueError(f"{text!r} is not a period: use YYYY-MM, e.g. 2026-01")
    return Period.containing(datetime.fromisoformat(f"{match[1]}-{match[2]}-01T00:00:00+00:00"))


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def records(period: Period, *, chunk_size: int = CHUNK_SIZE) -> Iterator[dict[str, Any]]:
    """Every statement of `period` in id order, one dict per line (FIELDS)."""
    rows = (
        Statement.objects.filter(period_start=period.start)
        .order_by("id")
        .values_list(
            "id",
            "subscription_id",
            "deployment_id",
            "period_start",
            "period_end",
            "currency",
            "total_cents",
            "closed_at",
            "lines",
        )
    )
    # One transaction: one snapshot for the whole export, and on PostgreSQL a
    # plain server-side cursor (outside one, Django declares it WITH HOLD, and
    # the server copies the whole result before the first row comes back).
    with transaction.atomic():
        for row in rows.iterator(chunk_size=chunk_size):
            statement_id, subscription_id, deployment_id, start, end, currency, total, closed = row[
                :8
            ]
            head = {
                "statement_id": statement_id,
                "subscription_id": subscription_id,
                "deployment_id": str(deployment_id),
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
                "currency": currency,
                "total_cents": total,
                "closed_at": _iso(closed),
            }
            lines = row[8] or [{}]
            for number, line in enumerate(lines, 1):
                record = dict(head)
                record["line"] = number if line else None
                for name in LINE_FIELDS[1:]:
                    record[name] = line.get(name)
                yield record


def write_csv(items: Iterator[dict[str, Any]], out: TextIO) -> int:
    """A header, then one row per record (None as an empty cell). Returns the rows written."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    count = 0
    for record in items:
        writer.writerow(["" if record[name] is None else record[name] for name in FIELDS])
        count += 1
    return count


def write_jsonl(items: Iterator[dict[str, Any]], out: TextIO) -> int:
    """One JSON object per record and per text line. Returns the records written."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    count = 0
    for record in items:
        out.write(encode(record) + "\n")
        count += 1
    return count


WRITERS = {"csv": write_csv, "jsonl": write_jsonl}


def export(period: Period, fmt: str, out: TextIO, *, chunk_size: int = CHUNK_SIZE) -> int:
    """Write `period`'s statements to `out` in `fmt`; the number of records."""
    return WRITERS[fmt](records(period, chunk_size=chunk_size), out)
