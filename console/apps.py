from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operator console's shared pieces (read-only admin mixins, filters,
    forms, the transition and override pages, charts, the dashboard); each
    app's admin.py registers its models with them."""

    name = "console"
    default_auto_field = "django.db.models.BigAutoField"
