"""How values are written in every answer, event and export."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, the format every timestamp in the API uses."""
    if value is None:
        return None
    # (values read from the database are in UTC already: no conversion)
    text = (value if value.tzinfo is UTC else value.astimezone(UTC)).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def iso_sql(column: str) -> str:
    """A PostgreSQL expression writing the timestamptz `column` exactly as
    `iso()` does (UTC with a Z, microseconds only when not zero; NULL stays
    NULL), for shapes built by set-based SQL."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"CASE WHEN mod(date_part('microseconds', {column})::bigint, 1000000) = 0 "
        f'THEN to_char({utc}, \'YYYY-MM-DD"T"HH24:MI:SS"Z"\') '
        f'ELSE to_char({utc}, \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') END'
    )
