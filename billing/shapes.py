"""The statement's shape (SPEC §6), one definition for the API, the events
feed and the export: closed statements and previews render the same way."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billing.models import Statement
from billing.statements import StatementDraft


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def statement_shape(statement: Statement) -> dict[str, Any]:
    """A closed statement."""
    return {
        "id": statement.id,
        "subscription_id": statement.subscription_id,
        "period_start": statement.period_start.isoformat(),
        "period_end": statement.period_end.isoformat(),
        "currency": statement.currency,
        "lines": statement.lines,
        "total_cents": statement.total_cents,
        "closed_at": _iso(statement.closed_at),
    }


def draft_shape(
    draft: StatementDraft, *, statement_id: int | None = None, closed_at: datetime | None = None
) -> dict[str, Any]:
    """A computed statement: a preview (no id, not closed), or the one the
    clock is writing with its id and closing time."""
    shape = draft.as_dict()
    shape["id"] = statement_id
    shape["closed_at"] = _iso(closed_at)
    return shape
