"""`manage.py flush`, able to empty the append-only audit tables on SQLite.

On PostgreSQL flush is a TRUNCATE, which the append-only triggers (UPDATE,
DELETE) do not see. On SQLite it is a DELETE per table, which they refuse: so
the triggers are dropped for the flush and put back afterwards, whatever happens.
"""

from django.core.management.commands import flush
from django.db import connections

from arcadia_cloud.append_only import sqlite_triggers


class Command(flush.Command):
    def handle(self, **options):
        connection = connections[options["database"]]
        if connection.vendor != "sqlite":
            return super().handle(**options)
        triggers = sqlite_triggers(connection)
        with connection.cursor() as cursor:
            for name, _sql in triggers:
                cursor.execute(f'DROP TRIGGER IF EXISTS "{name}"')
        try:
            return super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                for _name, sql in triggers:
                    cursor.execute(sql)
