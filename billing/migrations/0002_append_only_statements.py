"""The database refuses UPDATE and DELETE on statements (see
arcadia_cloud.append_only): a closed period's statement never changes."""

from django.db import migrations

from arcadia_cloud.append_only import protect


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [protect("billing_statement")]
