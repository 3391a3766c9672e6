from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_operator_groups(sender, using="default", apps=None, **kwargs):
    from deployments.operators import VIEWABLE_APPS, VIEWABLE_MODELS, ensure_operator_groups

    # A partial migrate (`migrate contenttypes`) ends before the tables the
    # groups need exist: like Django's own permission hook, wait for a migrate
    # whose state has them all.
    if apps is not None:
        needed = [("auth", "permission"), ("auth", "group"), *VIEWABLE_MODELS]
        try:
            for label, model in needed:
                apps.get_model(label, model)
            for label in VIEWABLE_APPS:
                if not any(True for _ in apps.get_app_config(label).get_models()):
                    return
        except LookupError:
            return
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
