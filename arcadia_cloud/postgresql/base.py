"""Django's PostgreSQL backend, loading timestamps with psycopg's C loader.

Django registers a pure-Python subclass of psycopg's timestamptz loader (it
re-stamps each value with the connection's zone): several microseconds per
value, on every timestamp every query reads. When Django wants aware
datetimes in UTC and the session's TimeZone is UTC (Django sets it so at
connect), psycopg's own C loader builds exactly those values, in
`datetime.timezone.utc`; this backend registers it on the connection, and
keeps Django's loader in any other set-up. The C class cannot carry the
`timezone` attribute Django's `create_cursor` compares, so `create_cursor`
skips that comparison when the C loader is in place. settings.DATABASES
selects this backend for PostgreSQL; `connection.vendor` stays
"postgresql".
"""

from __future__ import annotations

from datetime import UTC

import psycopg
from django.db.backends.postgresql import base
from django.utils.asyncio import async_unsafe
from psycopg.pq import Format

#: psycopg's text-format timestamptz loader: the C one with psycopg's binary
#: package (what `psycopg.adapters` holds), else its Python one.
C_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(base.TIMESTAMPTZ_OID, Format.TEXT)


class DatabaseWrapper(base.DatabaseWrapper):
    #: True while this connection loads timestamptz with psycopg's loader.
    c_timestamps = False

    def init_connection_state(self):
        super().init_connection_state()
        self.c_timestamps = False
        connection = self.connection
        if (
            connection is not None
            and self.timezone is UTC
            and connection.info.timezone is UTC
            and not hasattr(C_TIMESTAMPTZ_LOADER, "timezone")
        ):
            connection.adapters.register_loader("timestamptz", C_TIMESTAMPTZ_LOADER)
            self.c_timestamps = True

    @async_unsafe
    def create_cursor(self, name=None):
        if not self.c_timestamps:
            return super().create_cursor(name)
        if not name:
            return self.connection.cursor()
        # Django's named cursors, as its create_cursor makes them (their
        # timestamps come from the connection's loader, in UTC, as well).
        if self.settings_dict["OPTIONS"].get("server_side_binding") is not True:
            return base.ServerSideCursor(
                self.connection, name=name, scrollable=False, withhold=self.connection.autocommit
            )
        return self.connection.cursor(name, scrollable=False, withhold=self.connection.autocommit)
