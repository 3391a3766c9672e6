from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_operator_groups(sender, using="default", **kwargs):
    from deployments.operators import ensure_operator_groups

    ensure_operator_groups(using=using)


class DeploymentsConfig(AppConfig):
    name = "deployments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # After every migrate (and test-database flush) the operator groups
        # exist with exactly their defined permissions.
        post_migrate.connect(
            _ensure_operator_groups, sender=self, dispatch_uid="deployments.operator_groups"
        )
