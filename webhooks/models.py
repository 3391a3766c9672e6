"""Webhook endpoints, their signing secrets, one delivery per (endpoint,
event), and the dispatcher's cursor over the feed. See the package docstring
for how rows move."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from arcadia_cloud.models import Tenant

URL_MAX_LENGTH = 2048
DESCRIPTION_MAX_LENGTH = 500
#: Response bodies are kept up to this many bytes (decoded as UTF-8, lossy).
RESPONSE_KEEP_BYTES = 1024


class WebhookEndpoint(models.Model):
    """Where a tenant's (or, with no tenant, every tenant's) events are POSTed.

    `types` are feed type patterns as the owner gave them (`resource.*`);
    empty means every type. `start_position` is the feed head when the
    endpoint was created (or re-enabled): it receives events after it only.
    `failing_since` is the first failed attempt since the last success.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(
        Tenant,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        help_text="Empty: a platform-wide endpoint (every tenant's events).",
    )
    url = models.CharField(max_length=URL_MAX_LENGTH)
    types = models.JSONField(default=list, blank=True)
    description = models.CharField(max_length=DESCRIPTION_MAX_LENGTH, blank=True, default="")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    start_position = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "webhooks_endpoint"
        verbose_name = "webhook endpoint"
        ordering = ["created_at"]
        indexes = [models.Index(fields=["tenant", "created_at"], name="webhooks_endpoint_tenant")]

    def __str__(self) -> str:
        return self.url


class EndpointSecret(models.Model):
    """A signing secret (`whsec_` + base64 of 32 random bytes). Rotation adds
    a new one and gives the previous ones 24 hours (`expires_at`); every
    unexpired secret signs each delivery."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="secrets")
    secret = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "webhooks_secret"
        indexes = [models.Index(fields=["endpoint", "expires_at"], name="webhooks_secret_endpoint")]

    def __str__(self) -> str:  # never the secret itself
        return f"secret {self.pk} of {self.endpoint_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Delivery(models.Model):
    """One event for one endpoint: created by the dispatcher, attempted by the
    worker until a 2xx (succeeded) or the end of the retry window (failed).

    The event is named by its feed id and position (copied, not a foreign
    key: the feed is append-only and pruned on its own schedule), with its
    deployment and type for ordering and display. `next_attempt_at` is when
    it is due; while an attempt is in flight it is the claim's lease end
    (also in `leased_until`), so a killed worker's attempt is retried after
    it. `attempts` counts the attempts since `scheduled_at` (creation, or a
    manual retry / replay) and fences a worker's result to its own claim.
    """

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.BigIntegerField()
    position = models.BigIntegerField()
    deployment_id = models.UUIDField(null=True, blank=True)
    event_type = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    scheduled_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True, default="")
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "webhooks_delivery"
        verbose_name_plural = "deliveries"
        permissions = [("retry_delivery", "Can retry webhook deliveries")]
        constraints = [
            # Also the delivery log's index: an endpoint's deliveries, newest
            # event first (every write to a delivery updates each index: no more).
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhooks_delivery_once")
        ]
        indexes = [
            # The claim: due pending deliveries, soonest first.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status="pending"),
                name="webhooks_delivery_due",
            ),
            # Per-deployment order: is an earlier delivery of the same
            # (endpoint, deployment) still pending?
            models.Index(
                fields=["endpoint", "deployment_id", "position"],
                condition=Q(status="pending"),
                name="webhooks_delivery_order",
            ),
        ]

    def __str__(self) -> str:
        return f"evt_{self.event_id} -> {self.endpoint_id} ({self.status})"


class DispatchCursor(models.Model):
    """One row (id 1): every event at or below `position` has its deliveries."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "webhooks_dispatch_cursor"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="webhooks_cursor_one_row")]

    def __str__(self) -> str:
        return f"dispatched through {self.position}"
