"""Database helpers for the few set-based paths that talk to PostgreSQL directly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection


@contextmanager
def server_binding_cursor() -> Iterator[psycopg.Cursor]:
    """A psycopg cursor on Django's own connection (so: inside the caller's
    `transaction.atomic()`), binding parameters on the server.

    Django's default cursor binds on the client, quoting every element of an
    array parameter into the SQL text: for a 1,000-id array that costs more
    CPU than the statement itself. Server-side binding sends the array in
    binary. Queries run here are not in Django's query log.

    Errors come out as Django's (`django.db.DatabaseError` and subclasses), as
    from any other cursor, so callers catch one family of exceptions.
    """
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def copy_text(value: str) -> str:
    """`value` escaped for one field of COPY's text format."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )
