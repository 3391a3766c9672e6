"""Webhooks in the console: endpoints and deliveries, read-only, failures
first; one action, "retry", through the service. Secrets are never shown."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Case, IntegerField, Value, When

from arcadia_cloud.actors import Actor
from console.filters import FailingEndpointFilter
from console.readonly import ReadOnlyAdmin
from webhooks.models import Delivery, DeliveryStatus, WebhookEndpoint
from webhooks.services import retry_deliveries


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["url", "tenant", "enabled", "disabled_reason", "failing_since", "created_at"]
    list_filter = ["enabled", FailingEndpointFilter, "tenant"]
    list_select_related = ["tenant"]
    search_fields = ["url", "description", "tenant__slug"]
    ordering = ["enabled", "-created_at"]  # disabled ones first
    fields = [
        "id",
        "tenant",
        "url",
        "types",
        "description",
        "enabled",
        "disabled_reason",
        "disabled_at",
        "failing_since",
        "start_position",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "endpoint",
        "event",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "last_attempt_at",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = ["status", "event_type"]
    list_select_related = ["endpoint"]
    search_fields = ["endpoint__url", "=event_id", "=deployment_id"]
    actions = ["retry"]
    fields = [
        "id",
        "endpoint",
        "event_id",
        "position",
        "event_type",
        "deployment_id",
        "status",
        "attempts",
        "scheduled_at",
        "next_attempt_at",
        "leased_until",
        "last_attempt_at",
        "last_status_code",
        "last_response",
        "last_error",
        "created_at",
        "delivered_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        # Failures first: failed, then pending that already failed an attempt,
        # then the rest; newest first within each.
        return (
            super()
            .get_queryset(request)
            .annotate(
                trouble=Case(
                    When(status=DeliveryStatus.FAILED, then=Value(0)),
                    When(
                        status=DeliveryStatus.PENDING, last_status_code__isnull=False, then=Value(1)
                    ),
                    When(status=DeliveryStatus.PENDING, last_error__gt="", then=Value(1)),
                    default=Value(2),
                    output_field=IntegerField(),
                )
            )
            .order_by("trouble", "-id")
        )

    @admin.display(description="event")
    def event(self, delivery: Delivery) -> str:
        return f"evt_{delivery.event_id}"

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("webhooks.retry_delivery")

    @admin.action(description="Retry the selected deliveries now", permissions=["retry"])
    def retry(self, request, queryset):
        done, skipped = retry_deliveries(
            actor=Actor.from_admin_request(request),
            delivery_ids=list(queryset.values_list("pk", flat=True)),
        )
        self.message_user(
            request,
            f"{done} made due now; {skipped} skipped (in flight, or the endpoint is disabled).",
            messages.SUCCESS if done else messages.WARNING,
        )
