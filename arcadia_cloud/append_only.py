"""Append-only audit tables, enforced by the database itself.

`protect(table)` is a migration operation that installs triggers rejecting
every UPDATE and DELETE on `table`, so no code path (ORM, admin, raw SQL, a
shell) can rewrite history. PostgreSQL raises `restrict_violation`; SQLite
(the quick start) gets the equivalent `RAISE(ABORT)` triggers. Both surface in
Django as `IntegrityError`.

Wiping a whole database stays possible: TRUNCATE on PostgreSQL (a table
owner's operation, which the test runner's flush uses), and `manage.py flush`
on SQLite, which lifts the triggers for the duration of the flush.
"""

from __future__ import annotations

from django.db import migrations

TRIGGER_PREFIX = "append_only_"

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION arcadia_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'append-only table %: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$
"""


def _create_sql(vendor: str, table: str) -> list[str]:
    name = f"{TRIGGER_PREFIX}{table}"
    if vendor == "postgresql":
        return [
            _PG_FUNCTION,
            f'CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION arcadia_append_only()",
        ]
    if vendor == "sqlite":
        return [
            f'CREATE TRIGGER {name}_{op.lower()} BEFORE {op} ON "{table}" '
            f"BEGIN SELECT RAISE(ABORT, 'append-only table {table}: {op} refused'); END"
            for op in ("UPDATE", "DELETE")
        ]
    raise NotImplementedError(f"append-only triggers for {vendor}")


def _drop_sql(vendor: str, table: str) -> list[str]:
    name = f"{TRIGGER_PREFIX}{table}"
    if vendor == "postgresql":
        return [f'DROP TRIGGER IF EXISTS {name} ON "{table}"']
    return [f"DROP TRIGGER IF EXISTS {name}_{op}" for op in ("update", "delete")]


def protect(table: str) -> migrations.RunPython:
    """Migration operation: make `table` append-only (reversible)."""

    def forward(apps, schema_editor):
        for sql in _create_sql(schema_editor.connection.vendor, table):
            schema_editor.execute(sql, None)

    def backward(apps, schema_editor):
        for sql in _drop_sql(schema_editor.connection.vendor, table):
            schema_editor.execute(sql, None)

    return migrations.RunPython(forward, backward, elidable=False)


def sqlite_triggers(connection) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the append-only triggers of a SQLite database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s",
            [f"{TRIGGER_PREFIX}%"],
        )
        return list(cursor.fetchall())
