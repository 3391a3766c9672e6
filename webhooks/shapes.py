"""The endpoint's and the delivery's shapes (SPEC §7), one definition for the
API and the feed's `webhook_endpoint.disabled` events."""

from __future__ import annotations

from typing import Any

from arcadia_cloud.formats import iso
from webhooks.models import Delivery, WebhookEndpoint


def endpoint_shape(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": str(endpoint.id),
        "tenant_id": str(endpoint.tenant_id) if endpoint.tenant_id else None,
        "url": endpoint.url,
        "types": list(endpoint.types),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason or None,
        "created_at": iso(endpoint.created_at),
    }


def delivery_shape(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event_id": f"evt_{delivery.event_id}",
        "event_type": delivery.event_type,
        "deployment_id": str(delivery.deployment_id) if delivery.deployment_id else None,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_response": delivery.last_response,
        "last_error": delivery.last_error or None,
        "last_attempt_at": iso(delivery.last_attempt_at),
        "next_attempt_at": iso(delivery.next_attempt_at) if delivery.status == "pending" else None,
        "created_at": iso(delivery.created_at),
        "delivered_at": iso(delivery.delivered_at),
    }
