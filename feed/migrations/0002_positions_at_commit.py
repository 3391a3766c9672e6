"""Positions assigned at commit, and the append-only guards (feed/sql.py)."""

from django.db import migrations

from feed.sql import install_sql, uninstall_sql


def forward(apps, schema_editor):
    for sql in install_sql(schema_editor.connection.vendor):
        schema_editor.execute(sql, None)


def backward(apps, schema_editor):
    for sql in uninstall_sql(schema_editor.connection.vendor):
        schema_editor.execute(sql, None)


class Migration(migrations.Migration):
    dependencies = [("feed", "0001_initial")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
