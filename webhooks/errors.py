"""Domain errors of webhooks (mapped to HTTP in arcadia_cloud.api.exceptions)."""

from __future__ import annotations

from arcadia_cloud.errors import DomainError


class InvalidField(DomainError):
    """A value the domain refuses: 422 `{"error": {field: [message]}}` (an
    unsafe URL, a type pattern that matches nothing, an unknown tenant)."""

    category = "invalid"
    code = "invalid"

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")

    def body(self) -> dict:
        return {"error": {self.field: [self.message]}}


class EndpointDisabled(DomainError):
    """Resending to a disabled endpoint: enable it first (PATCH enabled)."""

    category = "conflict"
    code = "endpoint_disabled"


class DeliveryInFlight(DomainError):
    """A worker is attempting this delivery right now; its result decides."""

    category = "conflict"
    code = "delivery_in_flight"
