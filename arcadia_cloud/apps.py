from django.apps import AppConfig


class ArcadiaCloudConfig(AppConfig):
    name = "arcadia_cloud"
    verbose_name = "Tenancy and identity"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import got_request_exception, request_finished

        import arcadia_cloud.api.schema  # noqa: F401  (registers the bearer-token scheme)
        from arcadia_cloud.api.middleware import (
            forget_request_id,
            install_request_id_on_log_records,
            remember_exception,
        )

        install_request_id_on_log_records()
        request_finished.connect(forget_request_id, dispatch_uid="arcadia_forget_request_id")
        got_request_exception.connect(remember_exception, dispatch_uid="arcadia_remember_exception")
