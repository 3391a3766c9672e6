from django.apps import AppConfig


class FeedConfig(AppConfig):
    name = "feed"
    verbose_name = "Events feed"
    default_auto_field = "django.db.models.BigAutoField"
