from django.apps import AppConfig


class ArcadiaCloudConfig(AppConfig):
    name = "arcadia_cloud"
    verbose_name = "Tenancy and identity"
    default_auto_field = "django.db.models.BigAutoField"
