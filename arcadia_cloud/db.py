"""Database helpers for the few set-based paths that talk to PostgreSQL directly."""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg
from django.db import connection, connections
from django.db.models import Model, signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute

T = TypeVar("T")


class _LoggedCursor:
    """A psycopg cursor that records its statements in Django's query log when
    Django logs queries (DEBUG, or a test's CaptureQueriesContext), so query
    counts pinned by tests include what runs here."""

    def __init__(self, cursor: psycopg.Cursor, prepare: bool | None = None):
        self._cursor = cursor
        self._prepare = prepare

    def __getattr__(self, name):
        return getattr(self._cursor, name)

    def _log(self, sql, started: float, params=None) -> None:
        if connection.queries_logged:
            connection.queries_log.append(
                {"sql": str(sql), "time": f"{time.monotonic() - started:.3f}", "params": params}
            )

    def execute(self, sql, params=None, **kwargs):
        started = time.monotonic()
        if self._prepare is not None:
            kwargs.setdefault("prepare", self._prepare)
        try:
            return self._cursor.execute(sql, params, **kwargs)
        finally:
            self._log(sql, started, params)

    @contextmanager
    def copy(self, statement, *args, **kwargs):
        started = time.monotonic()
        try:
            with self._cursor.copy(statement, *args, **kwargs) as copy:
                yield copy
        finally:
            self._log(statement, started)


def prepared_statements() -> bool:
    """Whether the hot fixed statements are prepared on the server: on
    PostgreSQL, unless `ARCADIA_PREPARED_STATEMENTS` is off (it is whenever
    DATABASE_POOLING=transaction: behind PgBouncer in transaction pooling the
    next statement may run on a server connection where it was never
    prepared)."""
    from django.conf import settings

    return connection.vendor == "postgresql" and settings.ARCADIA_PREPARED_STATEMENTS


@contextmanager
def hot_cursor() -> Iterator:
    """The cursor of the request path's fixed reads (the token lookup, the
    show's and the list's reads): on PostgreSQL a
    server-binding cursor whose statements are prepared on first use when
    `prepared_statements()` (the server plans each once per connection, not
    once per request: about half of these reads' server CPU), parameters
    bound on the server; elsewhere Django's cursor. Same placeholders (`%s`,
    `%(name)s`) either way."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield _LoggedCursor(cursor, prepare=prepared_statements())


@contextmanager
def server_binding_cursor() -> Iterator[psycopg.Cursor]:
    """A psycopg cursor on Django's own connection (so: inside the caller's
    `transaction.atomic()`), binding parameters on the server.

    Django's default cursor binds on the client, quoting every element of an
    array parameter into the SQL text: for a 1,000-id array that costs more
    CPU than the statement itself. Server-side binding sends the array in
    binary. Statements run here are in Django's query log when it logs
    queries (so tests pin them like any other).

    Errors come out as Django's (`django.db.DatabaseError` and subclasses), as
    from any other cursor, so callers catch one family of exceptions.
    """
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield _LoggedCursor(cursor)


def copy_text(value: str) -> str:
    """`value` escaped for one field of COPY's text format."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def fetch_rows(queryset) -> list[tuple]:
    """The rows of a `values_list()` queryset, fast on PostgreSQL.

    The query is the queryset's own SQL (one definition of what is read), run
    on a `server_binding_cursor` in binary, so psycopg's C loaders build the
    values: Django registers a pure-Python loader for text timestamps that
    costs ~10 µs a value, more than the rest of a bulk read. Elsewhere the
    queryset is simply evaluated. Values come as the database returns them
    (aware datetimes in UTC, UUIDs, dates), without the ORM's converters, so
    read only plain columns this way.
    """
    if connection.vendor != "postgresql":
        return list(queryset)
    sql, params = queryset.query.sql_with_params()
    with server_binding_cursor() as cursor:
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall()


class RoundTrips:
    """How many client/server round trips ran (`count`), and the statement
    each one sent (`sent`: its SQL text, e.g. `BEGIN`)."""

    def __init__(self) -> None:
        self.count = 0
        self.sent: list[str] = []


_TRACED_SQL = {
    "Query": re.compile(r'^\s*"(.*)"\s*$', re.S),
    "Parse": re.compile(r'^\s*"[^"]*"\s"(.*)"\s\d+', re.S),
}


def _statement(message: str) -> str:
    """The SQL of a traced `Query "..."` or `Parse "name" "..." n ...` message."""
    kind, _, rest = message.partition("\t")
    pattern = _TRACED_SQL.get(kind)
    found = pattern.match(rest) if pattern else None
    return found.group(1) if found else message


@contextmanager
def round_trips() -> Iterator[RoundTrips]:
    """Count the round trips Django's PostgreSQL connection makes inside the
    block, from libpq's own protocol trace: every exchange the client waits
    for ends with the server's ReadyForQuery, so this counts what the query
    log cannot see (BEGIN, COMMIT, statements sent on a psycopg cursor).
    For tests and benchmarks; PostgreSQL only."""
    import tempfile

    counted = RoundTrips()
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield counted
        finally:
            pgconn.untrace()
            trace.flush()
            trace.seek(0)
            first = None
            for line in trace.read().splitlines():
                direction, _length, message = [*line.split("\t", 2), "", ""][:3]
                if direction == "F" and first is None:
                    first = _statement(message)
                elif direction == "B" and message.startswith("ReadyForQuery"):
                    counted.count += 1
                    counted.sent.append(first or "")
                    first = None


class RowModels:
    """Several models' columns side by side in one fixed SELECT, and their
    instances built from a row as the ORM would (`Model.from_db`, with the
    converters the columns need on this database), without compiling a
    queryset: for the hot reads written as fixed SQL.

    `RowModels((Deployment, "d"), (Subscription, "s"))`: `.columns` is the
    SELECT list (`d."id", ..., s."id", ...`); `.instances(row)` gives one
    instance per model, None where a LEFT JOIN found nothing (its primary key
    is NULL).

    An instance is what `Model.from_db` builds (every concrete field loaded,
    `_state` not adding, on this connection's alias), built without
    `Model.__init__`: its values go straight into the instance's `__dict__`
    (~0.6 µs against ~3-4 µs), where that is all `__init__` would do
    (`_plain`); any other model (the deployment: django-fsm keeps its loaded
    state) is built by its `from_db`."""

    def __init__(self, *parts: tuple[type, str]):
        quote = connection.ops.quote_name
        self.parts = parts
        self.attnames = [[f.attname for f in model._meta.concrete_fields] for model, _ in parts]
        self.columns = ", ".join(
            f"{alias}.{quote(f.column)}"
            for model, alias in parts
            for f in model._meta.concrete_fields
        )
        self.spans: list[tuple[int, int, int]] = []
        start = 0
        for (model, _), names in zip(parts, self.attnames, strict=True):
            pk = names.index(model._meta.pk.attname)
            self.spans.append((start, start + len(names), start + pk))
            start += len(names)
        self._converters: dict[str, list] = {}

    def _row_converters(self) -> list:
        found = self._converters.get(connection.vendor)
        if found is None:
            found = []
            fields = [f for model, _ in self.parts for f in model._meta.concrete_fields]
            for index, field in enumerate(fields):
                column = field.get_col(field.model._meta.db_table)
                functions = connection.ops.get_db_converters(column) + field.get_db_converters(
                    connection
                )
                if functions:
                    found.append((index, functions, column))
            self._converters[connection.vendor] = found
        return found

    def converts(self) -> bool:
        """Whether a column needs a converter on this database (if not, a row
        is already its values)."""
        return bool(self._row_converters())

    def instances(self, row) -> list:
        values = list(row)
        for index, functions, column in self._row_converters():
            for convert in functions:
                values[index] = convert(values[index], column, connection)
        alias = connection.alias
        return [
            None if values[pk] is None else _loaded(model, alias, names, values[start:end])
            for (model, _), names, (start, end, pk) in zip(
                self.parts, self.attnames, self.spans, strict=True
            )
        ]


def _plain(model) -> bool:
    """Whether an instance of `model` loaded from the database is nothing but
    its values in `__dict__` and a `_state`: no `__init__` or `from_db` of
    its own (django-fsm's concurrent-transition mixin records the loaded
    state there), no `pre_init`/`post_init` receivers, and no concrete field
    set through a descriptor of its own (a foreign key's id is: its setter
    only writes `__dict__` on a new instance)."""
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        return False
    found = _PLAIN.get(model)
    if found is None:
        found = _PLAIN[model] = (
            model.__init__ is Model.__init__
            and model.from_db.__func__ is Model.from_db.__func__
            and not any(
                hasattr(type(getattr(model, f.attname, None)), "__set__")
                and not isinstance(getattr(model, f.attname), ForeignKeyDeferredAttribute)
                for f in model._meta.concrete_fields
            )
        )
    return found


_PLAIN: dict[type, bool] = {}


def _loaded(model, alias: str, names: list[str], values: list):
    """`model.from_db(alias, names, values)` for every concrete field's value."""
    if not _plain(model):
        return model.from_db(alias, names, values)
    new = model.__new__(model)
    state = new._state = ModelState()
    state.adding, state.db = False, alias
    new.__dict__.update(zip(names, values, strict=True))
    return new


def walk_in_threads(walk: Callable[[], Iterator[T]], walkers: int, name: str) -> Iterator[T]:
    """What `walkers` threads running `walk()` at once yield, in the order
    they yield it, on the calling thread. Each thread uses its own database
    connection (Django keeps one per thread) and closes it when done; the
    first exception a walker raises is re-raised here once every walker has
    stopped, so what the others committed meanwhile is still reported. One
    walker: `walk()` on the calling thread, no thread at all."""
    if walkers == 1:
        yield from walk()
        return
    finished: queue.SimpleQueue = queue.SimpleQueue()
    exited = object()  # a walker's last message, after all its items

    def work() -> None:
        error = None
        try:
            for item in walk():
                finished.put((None, item))
        except BaseException as exc:  # re-raised on the calling thread
            error = exc
        finally:
            connections.close_all()
            finished.put((exited, error))

    threads = [
        threading.Thread(target=work, name=f"{name}-{n}", daemon=True) for n in range(walkers)
    ]
    for thread in threads:
        thread.start()
    error = None
    running = walkers
    try:
        while running:
            tag, value = finished.get()
            if tag is exited:
                running -= 1
                error = error or value
                continue
            yield value
    finally:
        for thread in threads:
            thread.join()
    if error is not None:
        raise error
