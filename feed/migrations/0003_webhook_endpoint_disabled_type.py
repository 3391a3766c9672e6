"""The `webhook_endpoint.disabled` event type joins the type check.

SQLite changes a check constraint by rebuilding the table, which drops its
triggers: they are removed first and installed again afterwards (PostgreSQL
alters the constraint in place and keeps them)."""

from django.db import migrations, models

from feed.sql import install_sql, uninstall_sql

TYPES_BEFORE = (
    "deployment.created",
    "deployment.transitioned",
    "deployment.override_changed",
    "subscription.created",
    "subscription.addon_attached",
    "subscription.addon_detached",
    "subscription.plan_changed",
    "subscription.change_scheduled",
    "subscription.change_withdrawn",
    "subscription.period_closed",
    "subscription.trial_will_end",
    "resource.created",
    "resource.updated",
    "resource.status_changed",
    "resource.deleted",
)
TYPES_AFTER = (*TYPES_BEFORE, "webhook_endpoint.disabled")


def _sqlite_triggers(install: bool):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor != "sqlite":
            return
        for sql in install_sql(vendor) if install else uninstall_sql(vendor):
            schema_editor.execute(sql, None)

    return run


class Migration(migrations.Migration):
    dependencies = [("feed", "0002_positions_at_commit")]

    operations = [
        migrations.RunPython(_sqlite_triggers(False), _sqlite_triggers(True), elidable=False),
        migrations.RemoveConstraint(model_name="event", name="feed_event_type_known"),
        migrations.AddConstraint(
            model_name="event",
            constraint=models.CheckConstraint(
                condition=models.Q(("type__in", TYPES_AFTER)), name="feed_event_type_known"
            ),
        ),
        migrations.RunPython(_sqlite_triggers(True), _sqlite_triggers(False), elidable=False),
    ]
