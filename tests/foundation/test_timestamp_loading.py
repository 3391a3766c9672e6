"""PostgreSQL timestamps are loaded by psycopg's C loader (not Django's
pure-Python one), with the same values: aware datetimes in UTC. And no
statement is ever prepared on the server (PgBouncer in transaction pooling)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.db.backends.postgresql.psycopg_any import register_tzloader

from arcadia_cloud.db import server_binding_cursor
from arcadia_cloud.postgresql.base import C_TIMESTAMPTZ_LOADER
from tests.conftest import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db]

VALUES = [
    datetime(2026, 12, 1, 12, 30, 15, 123456, tzinfo=UTC),
    datetime(2026, 12, 1, 12, 30, 15, tzinfo=UTC),  # no microseconds
    datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # before the epoch
    datetime(1, 1, 1, 0, 0, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 7, 1, 9, 15, 0, 500, tzinfo=ZoneInfo("Europe/Berlin")),  # another zone
    datetime(2000, 2, 29, 23, 0, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
]


def _read(cursor) -> list[datetime]:
    cursor.execute(
        "SELECT v FROM unnest(%s::timestamptz[]) WITH ORDINALITY AS t(v, n) ORDER BY n",
        [VALUES],
    )
    return [row[0] for row in cursor.fetchall()]


def test_the_c_loader_is_used_and_loads_what_djangos_loader_loads():
    connection.ensure_connection()
    assert connection.c_timestamps
    assert connection.connection.adapters.get_loader(1184, 0) is C_TIMESTAMPTZ_LOADER
    assert C_TIMESTAMPTZ_LOADER.__module__.startswith("psycopg_binary")  # the C one
    with connection.cursor() as cursor:
        fast = _read(cursor)
    with connection.cursor() as cursor:
        # Django's own (pure-Python) loader, on this cursor only
        register_tzloader(UTC, cursor.cursor)
        assert cursor.cursor.adapters.get_loader(1184, 0) is not C_TIMESTAMPTZ_LOADER
        django_values = _read(cursor)
    assert fast == django_values == VALUES
    assert all(value.tzinfo is UTC for value in fast + django_values)
    assert [v.isoformat() for v in fast] == [v.isoformat() for v in django_values]


def test_model_timestamps_round_trip(tenant):
    from arcadia_cloud.models import Tenant

    for value in VALUES:
        Tenant.objects.filter(pk=tenant.pk).update(created_at=value)
        loaded = Tenant.objects.get(pk=tenant.pk).created_at
        assert loaded == value
        assert loaded.tzinfo is UTC


def test_no_statement_is_prepared_on_the_server_unasked():
    """psycopg prepares nothing by itself (its threshold is None, or out of
    reach where the request path's hot statements are prepared on request)."""
    threshold = connection.settings_dict["OPTIONS"].get("prepare_threshold", 5)
    assert threshold is None or threshold >= 2**31 - 1
    with transaction.atomic():
        for i in range(12):  # psycopg's default threshold is 5
            with server_binding_cursor() as cursor:
                cursor.execute("SELECT %s::int + 1", [i])
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                ["%::int + 1%"],
            )
            assert cursor.fetchone()[0] == 0


def test_named_cursors_load_the_same_values(tenant):
    from arcadia_cloud.models import Tenant

    Tenant.objects.filter(pk=tenant.pk).update(created_at=VALUES[0])
    with transaction.atomic():
        # .iterator() reads through a named (server-side) cursor
        loaded = [t.created_at for t in Tenant.objects.filter(pk=tenant.pk).iterator()]
    assert loaded == [VALUES[0]]
    assert loaded[0].tzinfo is UTC
