"""Audit rows are append-only in the database too (PostgreSQL): a trigger refuses
any UPDATE or DELETE of a deployment event or a billing-override change, so a raw
query, a shell session or a future bug cannot rewrite history. TRUNCATE (test
flushes) is not affected. SQLite, the single-user quick start, relies on the
model-level guard alone."""

from django.db import migrations

TABLES = ("deployments_deploymentevent", "deployments_billingoverridechange")

FUNCTION = """
CREATE OR REPLACE FUNCTION deployments_refuse_audit_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION deployments_refuse_audit_change()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS deployments_refuse_audit_change()")


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0002_slug_validator_rejects_trailing_newline"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
