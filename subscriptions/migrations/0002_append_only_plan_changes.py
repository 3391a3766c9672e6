"""The database refuses UPDATE and DELETE on plan-change records (see
arcadia_cloud.append_only)."""

from django.db import migrations

from arcadia_cloud.append_only import protect


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0001_initial")]

    operations = [protect("subscriptions_planchange")]
