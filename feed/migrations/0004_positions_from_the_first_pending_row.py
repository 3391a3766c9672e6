"""The commit-time position function scans the unpositioned rows from the
transaction's first pending row on (feed/sql.py): the same positions, without
walking index entries left by rows positioned earlier and not yet vacuumed."""

from django.db import migrations

from feed.sql import POSITION_FUNCTION_SQL


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSITION_FUNCTION_SQL, None)


class Migration(migrations.Migration):
    dependencies = [("feed", "0003_webhook_endpoint_disabled_type")]

    # Backwards: the function gives the same positions either way; nothing to undo.
    operations = [migrations.RunPython(forward, migrations.RunPython.noop, elidable=False)]
