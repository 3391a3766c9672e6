"""Writes of webhook endpoints and deliveries: registration, changes,
rotation, resends, and disabling. Every function takes the actor and looks
the endpoint up in its scope (`scope_for`), so another tenant's endpoint is
absent (`NotFound`) exactly like a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from arcadia_cloud.actors import Actor
from arcadia_cloud.errors import Forbidden, NotFound
from arcadia_cloud.models import Tenant
from arcadia_cloud.scope import scope_for
from feed.cursor import Anchor, parse_after
from feed.errors import CursorExpired
from feed.record import record_event
from feed.selectors import feed_head, retention_watermark
from feed.types import BadTypePattern, expand_patterns
from webhooks import ssrf
from webhooks.dispatch import (
    insert_deliveries,
    lock_dispatch,
    settle_own_events,
    types_of,
    wake_workers,
)
from webhooks.errors import DeliveryInFlight, EndpointDisabled, InvalidField
from webhooks.models import Delivery, DeliveryStatus, EndpointSecret, WebhookEndpoint
from webhooks.selectors import endpoints_visible_to
from webhooks.shapes import endpoint_shape
from webhooks.signing import new_secret

#: How long a rotated-out secret keeps signing beside the new one.
ROTATION_OVERLAP = timedelta(hours=24)
DISABLED_TYPE = "webhook_endpoint.disabled"


@dataclass(frozen=True)
class Registered:
    endpoint: WebhookEndpoint
    secret: str  # shown once


def check_url(url: str) -> None:
    """The SSRF rule at registration: `InvalidField("url", why)`."""
    try:
        ssrf.vet(url)
    except ssrf.UnsafeUrl as exc:
        raise InvalidField("url", str(exc)) from None


def check_types(types: list[str]) -> None:
    if types:
        try:
            expand_patterns(types)
        except BadTypePattern as exc:
            raise InvalidField("types", str(exc)) from None


def _tenant_for(actor: Actor, tenant_id: UUID | None) -> Tenant | None:
    """The tenant a new endpoint belongs to; None: platform-wide (only for
    whoever sees every tenant)."""
    scope = scope_for(actor)
    if scope.everything:
        if tenant_id is None:
            return None
        tenant = Tenant.objects.filter(pk=tenant_id).first()
        if tenant is None:
            raise InvalidField("tenant_id", "Unknown tenant.")
        return tenant
    if scope.tenant_id is None or (tenant_id is not None and tenant_id != scope.tenant_id):
        raise Forbidden()
    return Tenant.objects.get(pk=scope.tenant_id)


def create_endpoint(
    *,
    actor: Actor,
    url: str,
    types: list[str] | None = None,
    description: str = "",
    tenant_id: UUID | None = None,
) -> Registered:
    """Register an endpoint and its first secret. It receives the events
    committed after this (its start is the feed head, read under the
    dispatcher's lock)."""
    types = list(types or [])
    tenant = _tenant_for(actor, tenant_id)
    check_types(types)
    check_url(url)
    with transaction.atomic():
        lock_dispatch()
        endpoint = WebhookEndpoint.objects.create(
            tenant=tenant,
            url=url,
            types=types,
            description=description,
            start_position=feed_head(),
        )
        secret = EndpointSecret.objects.create(endpoint=endpoint, secret=new_secret())
    return Registered(endpoint=endpoint, secret=secret.secret)


def _locked(actor: Actor, endpoint_id: UUID | str) -> WebhookEndpoint:
    endpoint = endpoints_visible_to(actor).select_for_update().filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound()
    return endpoint


def update_endpoint(
    *,
    actor: Actor,
    endpoint_id: UUID | str,
    url: str | None = None,
    types: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change what was given. Disabling ends the pending deliveries (failed);
    enabling clears the reason, and the endpoint receives the events
    committed from then on (replay fills a gap)."""
    if types is not None:
        check_types(types)
    if url is not None:
        check_url(url)
    with transaction.atomic():
        if enabled:
            lock_dispatch()
        endpoint = _locked(actor, endpoint_id)
        changed = []
        if url is not None and url != endpoint.url:
            endpoint.url = url
            changed.append("url")
        if types is not None and types != endpoint.types:
            endpoint.types = types
            changed.append("types")
        if description is not None and description != endpoint.description:
            endpoint.description = description
            changed.append("description")
        if enabled is True and not endpoint.enabled:
            endpoint.enabled = True
            endpoint.disabled_reason = ""
            endpoint.disabled_at = None
            endpoint.failing_since = None
            endpoint.start_position = feed_head()
            changed += ["enabled", "disabled_reason", "disabled_at", "failing_since"]
            changed.append("start_position")
        if changed:
            endpoint.save(update_fields=[*changed, "updated_at"])
        if enabled is False and endpoint.enabled:
            _disable(endpoint, reason=f"Disabled by {actor.label}.", record=False)
        return endpoint


def delete_endpoint(*, actor: Actor, endpoint_id: UUID | str) -> None:
    """Delete the endpoint, its secrets and its delivery log. An attempt in
    flight finishes; its result is dropped."""
    with transaction.atomic():
        lock_dispatch()
        endpoint = _locked(actor, endpoint_id)
        Delivery.objects.filter(endpoint=endpoint).delete()
        endpoint.delete()


def rotate_secret(*, actor: Actor, endpoint_id: UUID | str, now: datetime | None = None) -> str:
    """A new secret; the current ones keep signing beside it for 24 hours."""
    now = now or timezone.now()
    with transaction.atomic():
        endpoint = _locked(actor, endpoint_id)
        EndpointSecret.objects.filter(endpoint=endpoint, expires_at__isnull=True).update(
            expires_at=now + ROTATION_OVERLAP
        )
        EndpointSecret.objects.filter(endpoint=endpoint, expires_at__lte=now).delete()
        return EndpointSecret.objects.create(endpoint=endpoint, secret=new_secret()).secret


def retry_delivery(
    *, actor: Actor, endpoint_id: UUID | str, delivery_id: int, now: datetime | None = None
) -> Delivery:
    """Make one delivery due now (same webhook-id). A finished one starts a
    new retry window; one in flight is left to its attempt."""
    now = now or timezone.now()
    with transaction.atomic():
        endpoint = _locked(actor, endpoint_id)
        delivery = Delivery.objects.select_for_update().filter(pk=delivery_id, endpoint=endpoint)
        delivery = delivery.first()
        if delivery is None:
            raise NotFound()
        if not endpoint.enabled:
            raise EndpointDisabled()
        _make_due(delivery, now)
        wake_workers()
        return delivery


def retry_deliveries(*, actor: Actor, delivery_ids: list[int]) -> tuple[int, int]:
    """The console's bulk retry: (made due, skipped: in flight or endpoint
    disabled)."""
    now = timezone.now()
    done = skipped = 0
    with transaction.atomic():
        visible = endpoints_visible_to(actor).values("pk")
        rows = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(pk__in=delivery_ids, endpoint__in=visible)
            .order_by("pk")
        )
        for delivery in rows:
            if not delivery.endpoint.enabled or _in_flight(delivery, now):
                skipped += 1
                continue
            _make_due(delivery, now)
            done += 1
        if done:
            wake_workers()
    return done, skipped


def _in_flight(delivery: Delivery, now: datetime) -> bool:
    return delivery.leased_until is not None and delivery.leased_until > now


def _make_due(delivery: Delivery, now: datetime) -> None:
    if _in_flight(delivery, now):
        raise DeliveryInFlight()
    if delivery.status != DeliveryStatus.PENDING:
        delivery.status = DeliveryStatus.PENDING
        delivery.attempts = 0
        delivery.scheduled_at = now
        delivery.delivered_at = None
    delivery.next_attempt_at = now
    delivery.leased_until = None
    delivery.save(
        update_fields=[
            "status",
            "attempts",
            "scheduled_at",
            "delivered_at",
            "next_attempt_at",
            "leased_until",
        ]
    )


def replay(*, actor: Actor, endpoint_id: UUID | str, after: str) -> int:
    """Deliver again every event after the feed cursor `after` that the
    endpoint matches (its tenant and types), up to the head: new deliveries
    for events it never had, existing ones made due again (same webhook-id).
    Raises `BadFeedQuery` (malformed cursor), `CursorExpired` (older than
    retention), `EndpointDisabled`. Returns the number scheduled."""
    anchor = parse_after(after)
    now = timezone.now()
    with transaction.atomic():
        settle_own_events()
        # One writer of new deliveries at a time (the dispatcher's inserts and
        # these see each other); taken before the endpoint's row, as
        # everywhere, so the two never wait on each other in turn.
        lock_dispatch()
        endpoint = _locked(actor, endpoint_id)
        if not endpoint.enabled:
            raise EndpointDisabled()
        if anchor is Anchor.HEAD:
            return 0
        position = 0 if anchor is Anchor.OLDEST else anchor
        watermark = retention_watermark()
        if position < watermark:
            raise CursorExpired(after=position, pruned_through=watermark)
        pairs = [(endpoint.pk, t) for t in types_of(endpoint.types)]
        count = insert_deliveries(pairs, after=position, through=None, now=now, replay=True)
        if count:
            wake_workers()
        return count


def disable_endpoint(*, endpoint_id: UUID, reason: str) -> bool:
    """The delivery worker's: switch an endpoint off (it answered 410, or
    failed for 3 days), fail its pending deliveries, and record a
    `webhook_endpoint.disabled` event. False if it was already off or gone."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
        if endpoint is None or not endpoint.enabled:
            return False
        _disable(endpoint, reason=reason, record=True)
        return True


def _disable(endpoint: WebhookEndpoint, *, reason: str, record: bool) -> None:
    now = timezone.now()
    endpoint.enabled = False
    endpoint.disabled_reason = reason[:500]
    endpoint.disabled_at = now
    endpoint.save(update_fields=["enabled", "disabled_reason", "disabled_at", "updated_at"])
    Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED,
        next_attempt_at=None,
        leased_until=None,
        last_error=f"endpoint disabled: {reason}"[:500],
    )
    if record:
        record_event(
            type=DISABLED_TYPE,
            tenant_id=endpoint.tenant_id,
            deployment_id=None,
            data={"endpoint": endpoint_shape(endpoint), "reason": endpoint.disabled_reason},
        )
