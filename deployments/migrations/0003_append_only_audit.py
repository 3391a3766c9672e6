"""The database refuses UPDATE and DELETE on deployment events and on the
billing-override audit (see arcadia_cloud.append_only)."""

from django.db import migrations

from arcadia_cloud.append_only import protect


class Migration(migrations.Migration):
    dependencies = [("deployments", "0002_slug_validator_rejects_trailing_newline")]

    operations = [
        protect("deployments_deploymentevent"),
        protect("deployments_billingoverridechange"),
    ]
