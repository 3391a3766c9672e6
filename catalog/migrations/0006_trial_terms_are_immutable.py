"""The trial terms join the terms the database refuses to change on a
published plan version (see 0002)."""

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
        OR NEW.trial_days IS DISTINCT FROM OLD.trial_days
        OR NEW.trial_end_behavior IS DISTINCT FROM OLD.trial_end_behavior
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
"""


def _on_postgres(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_trial_terms")]

    operations = [migrations.RunPython(_on_postgres(CREATE), migrations.RunPython.noop)]
