"""On PostgreSQL, the database itself refuses to change a published plan
version's terms (or to unpublish or delete it), whoever writes: the ORM, a
queryset update, raw SQL or a psql session. SQLite (the embedded quick start)
has no such trigger; there the service and the admin enforce the rule."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION catalog_planversion_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.published_at IS NOT NULL THEN
            RAISE EXCEPTION 'plan version % is published and cannot be deleted', OLD.id
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.published_at IS NOT NULL AND (
        NEW.price_cents IS DISTINCT FROM OLD.price_cents
        OR NEW.currency IS DISTINCT FROM OLD.currency
        OR NEW.interval IS DISTINCT FROM OLD.interval
        OR NEW.included_quotas IS DISTINCT FROM OLD.included_quotas
        OR NEW.plan_id IS DISTINCT FROM OLD.plan_id
        OR NEW.version IS DISTINCT FROM OLD.version
        OR NEW.published_at IS DISTINCT FROM OLD.published_at
    ) THEN
        RAISE EXCEPTION 'plan version % is published and immutable', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS catalog_planversion_immutable ON catalog_planversion;
CREATE TRIGGER catalog_planversion_immutable
    BEFORE UPDATE OR DELETE ON catalog_planversion
    FOR EACH ROW EXECUTE FUNCTION catalog_planversion_immutable();
"""

DROP = """
DROP TRIGGER IF EXISTS catalog_planversion_immutable ON catalog_planversion;
DROP FUNCTION IF EXISTS catalog_planversion_immutable();
"""


def _on_postgres(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [migrations.RunPython(_on_postgres(CREATE), _on_postgres(DROP))]
