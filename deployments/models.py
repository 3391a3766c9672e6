"""Deployments (the billable unit), their append-only audit trail, and the
cloud resources tied to each.

The lifecycle is declared here, once, with django-fsm: one transition method
per target state, one `@transition` per source with the roles that may make
that move. Everything else (the service, `allowed_transitions`, the admin, the
batch command, the README diagram) reads the map from these declarations
through `deployments.transitions`.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime

from django.core.validators import MinLengthValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition

from arcadia_cloud.actors import OPERATOR, SYSTEM, TENANT

# The DNS-label pattern as SPEC writes it (also published in the OpenAPI document).
SLUG_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
# Python's `$` also matches before a trailing newline, which let "shop\n" through
# the model validator (the API trims it first; the admin and services do not all).
_SLUG_VALIDATOR_PATTERN = SLUG_PATTERN.removesuffix("$") + r"\Z"


class State(models.TextChoices):
    TRIAL = "trial", "Trial"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    PAUSED = "paused", "Paused"
    SUSPENDED = "suspended", "Suspended"
    CANCELLED = "cancelled", "Cancelled"
    ARCHIVED = "archived", "Archived"


class LlmMode(models.TextChoices):
    MANAGED = "managed", "Managed"
    BYOK = "byok", "Bring your own key"
    DISABLED = "disabled", "Disabled"


def may(*kinds: str):
    """django-fsm permission for one cell of the map: "who may" make this move.

    The rule is a set of actor kinds plus the conditions the row must meet for
    that actor (`row_conditions`), read by both paths that move deployments:
    evaluated on a row in Python by `transition_state` (and `allowed_targets`),
    and turned into SQL by the set-based batch, so the rule has one definition:
    - a tenant actor moves only its own tenant's deployments;
    - a system actor (a batch, the billing clock) may not move a deployment
      whose automated billing actions are suspended (the operator override),
      unless the operator who ran it asked for `--include-overridden`.
    """

    allowed = frozenset(kinds)

    def row_conditions(actor) -> dict[str, object] | None:
        """Column -> value the row must have for `actor`; None when the actor's
        kind may not make this move at all."""
        if actor.kind not in allowed:
            return None
        if actor.kind == TENANT:
            return None if actor.tenant_id is None else {"tenant_id": actor.tenant_id}
        if actor.kind == SYSTEM and not actor.include_overridden:
            return {"billing_action_suspended": False}
        return {}

    def check(instance, actor) -> bool:
        conditions = row_conditions(actor)
        return conditions is not None and all(
            getattr(instance, column) == value for column, value in conditions.items()
        )

    check.kinds = allowed  # read by deployments.transitions to build the map
    check.row_conditions = row_conditions
    return check


S = State


class Deployment(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(
        "arcadia_cloud.Tenant", on_delete=models.PROTECT, related_name="deployments"
    )
    slug = models.CharField(
        max_length=63,
        validators=[
            RegexValidator(_SLUG_VALIDATOR_PATTERN, "Must be a DNS label: a-z, 0-9 and '-'.")
        ],
    )
    display_name = models.CharField(max_length=200, validators=[MinLengthValidator(1)])
    region = models.CharField(max_length=64)
    state = FSMField(default=State.ACTIVE, choices=State.choices, protected=True, max_length=16)
    state_since = models.DateTimeField(default=timezone.now)
    llm_mode = models.CharField(max_length=16, choices=LlmMode.choices, default=LlmMode.MANAGED)
    billing_action_suspended = models.BooleanField(default=False)
    template_code = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001  (spec: nullable)
    template_version = models.CharField(max_length=50, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "slug"], name="deployment_slug_unique_per_tenant"
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=State.values), name="deployment_state_known"
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "-created_at", "-id"], name="deployment_tenant_created_id"
            ),
            models.Index(fields=["state", "state_since"], name="deployment_state_since"),
            models.Index(fields=["region", "state"], name="deployment_region_state"),
            models.Index(fields=["-created_at", "-id"], name="deployment_created"),
        ]
        permissions = [
            ("transition_deployment", "Can move a deployment through its lifecycle"),
            ("override_billing_action", "Can toggle the billing-action override"),
        ]

    def __str__(self) -> str:
        return self.slug

    # -- The lifecycle. Methods only change fields; the service does the rest. --

    #: The columns a move writes, and the only ones: the single-row service
    #: saves exactly these and the set-based batch UPDATEs exactly these (a
    #: test holds every @transition method to them).
    MOVE_COLUMNS = ("state", "state_since", "updated_at")

    def _enter(self, at: datetime) -> None:
        self.state_since = at

    @transition(field=state, source=S.TRIAL, target=S.ACTIVE, permission=may(OPERATOR, SYSTEM))
    @transition(field=state, source=S.PAST_DUE, target=S.ACTIVE, permission=may(OPERATOR, SYSTEM))
    @transition(field=state, source=S.PAUSED, target=S.ACTIVE, permission=may(TENANT, OPERATOR))
    @transition(field=state, source=S.SUSPENDED, target=S.ACTIVE, permission=may(OPERATOR))
    def activate(self, at: datetime) -> None:
        self._enter(at)

    @transition(field=state, source=S.TRIAL, target=S.PAST_DUE, permission=may(OPERATOR, SYSTEM))
    @transition(field=state, source=S.ACTIVE, target=S.PAST_DUE, permission=may(OPERATOR, SYSTEM))
    def mark_past_due(self, at: datetime) -> None:
        self._enter(at)

    @transition(field=state, source=S.TRIAL, target=S.PAUSED, permission=may(OPERATOR))
    @transition(field=state, source=S.ACTIVE, target=S.PAUSED, permission=may(TENANT, OPERATOR))
    def pause(self, at: datetime) -> None:
        self._enter(at)

    @transition(field=state, source=S.ACTIVE, target=S.SUSPENDED, permission=may(OPERATOR, SYSTEM))
    @transition(
        field=state, source=S.PAST_DUE, target=S.SUSPENDED, permission=may(OPERATOR, SYSTEM)
    )
    def suspend(self, at: datetime) -> None:
        self._enter(at)

    @transition(
        field=state, source=S.TRIAL, target=S.CANCELLED, permission=may(TENANT, OPERATOR, SYSTEM)
    )
    @transition(
        field=state,
        source=[S.ACTIVE, S.PAST_DUE, S.PAUSED, S.SUSPENDED],
        target=S.CANCELLED,
        permission=may(TENANT, OPERATOR),
    )
    def cancel(self, at: datetime) -> None:
        self._enter(at)

    @transition(
        field=state, source=S.CANCELLED, target=S.ARCHIVED, permission=may(OPERATOR, SYSTEM)
    )
    def archive(self, at: datetime) -> None:
        self._enter(at)


class DeploymentEvent(models.Model):
    """One lifecycle step. Append-only: written by `deployments.events.record_*`
    only; database triggers (migration 0003) refuse any UPDATE or DELETE."""

    id = models.BigAutoField(primary_key=True)
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="events")
    from_state = models.CharField(max_length=16, null=True, blank=True)  # noqa: DJ001  (null = creation)
    to_state = models.CharField(max_length=16)
    reason = models.CharField(max_length=500, blank=True, default="")
    actor = models.CharField(max_length=254)
    notes = models.TextField(blank=True, default="")
    request_id = models.CharField(max_length=128, blank=True, default="")
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["deployment", "id"], name="event_deployment_id")]

    def __str__(self) -> str:
        return f"{self.deployment_id}: {self.from_state or '∅'} → {self.to_state}"


class BillingOverrideChange(models.Model):
    """Audit of `billing_action_suspended` changes (who, when, why). Append-only."""

    id = models.BigAutoField(primary_key=True)
    deployment = models.ForeignKey(
        Deployment, on_delete=models.PROTECT, related_name="override_changes"
    )
    value = models.BooleanField()
    reason = models.CharField(max_length=500)
    actor = models.CharField(max_length=254)
    request_id = models.CharField(max_length=128, blank=True, default="")
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return (
            f"billing override {'on' if self.value else 'off'} "
            f"({self.occurred_at:%Y-%m-%d %H:%M} UTC, by {self.actor})"
        )


# -- Cloud resources ------------------------------------------------------------------


class DesiredState(models.TextChoices):
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"
    DELETED = "deleted", "Deleted"


class ObservedState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"
    DELETED = "deleted", "Deleted"
    FAILED = "failed", "Failed"


#: A resource kind as the catalog writes them (add-ons' `resource_kind`).
RESOURCE_KIND_PATTERN = r"^[a-z0-9][a-z0-9_]{0,62}$"


def time_ordered_uuid() -> uuid.UUID:
    """A version 7 UUID (RFC 9562): 48 bits of Unix milliseconds, then random.

    A resource's public id is a UUID like every id of the API; this one also
    sorts by creation time, so the lists keyset-paginate on the primary key in
    creation order, and inserts land at the right edge of the index.
    """
    millis = time.time_ns() // 1_000_000
    value = (millis & (2**48 - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value)


class CloudResource(models.Model):
    """A cloud resource of one deployment (the original system's `cloud_resources`).

    `desired_state`, `qty` and `held` are what the platform wants; the
    controllers report what they observe (`observed_state`,
    `observed_generation`). `generation` goes up with every change of what is
    wanted, so a resource is pending (its controller has work to do) while
    `observed_generation < generation`. Written only by `deployments.resources`
    (the lifecycle drives it from `deployments.transitions.write_moves`);
    rows are never deleted: a deleted resource is one whose desired state is
    `deleted`, and its name is free again.
    """

    id = models.UUIDField(primary_key=True, default=time_ordered_uuid, editable=False)
    # Indexed by (deployment, id) and (tenant, id) below, not on their own.
    deployment = models.ForeignKey(
        Deployment, on_delete=models.PROTECT, related_name="resources", db_index=False
    )
    #: The deployment's tenant, copied at creation (a deployment never changes
    #: tenant): the tenant scope filters resources without a join, and the
    #: lifecycle's set-based UPDATE returns it for the events.
    tenant = models.ForeignKey(
        "arcadia_cloud.Tenant",
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        db_index=False,
    )
    kind = models.CharField(
        max_length=63,
        validators=[
            RegexValidator(
                RESOURCE_KIND_PATTERN.removesuffix("$") + r"\Z",
                "A resource kind: lower-case letters, digits and '_'.",
            )
        ],
    )
    name = models.CharField(
        max_length=63,
        validators=[
            RegexValidator(_SLUG_VALIDATOR_PATTERN, "Must be a DNS label: a-z, 0-9 and '-'.")
        ],
    )
    qty = models.PositiveIntegerField()
    desired_state = models.CharField(
        max_length=16, choices=DesiredState.choices, default=DesiredState.RUNNING
    )
    observed_state = models.CharField(
        max_length=16, choices=ObservedState.choices, default=ObservedState.PENDING
    )
    generation = models.PositiveBigIntegerField(default=1)
    observed_generation = models.PositiveBigIntegerField(default=0)
    #: Stopped by the lifecycle (paused, suspended), not by the tenant: only
    #: these go back to running when the deployment is active again.
    held = models.BooleanField(default=False)
    #: The message of the last status report ("" when it had none).
    status_message = models.CharField(max_length=1000, blank=True, default="")
    #: When a status report last changed what is observed.
    observed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "cloud_resources"
        ordering = ["id"]
        verbose_name = "cloud resource"
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "name"],
                condition=~models.Q(desired_state=DesiredState.DELETED),
                name="resource_name_unique_per_deployment",
            ),
            models.CheckConstraint(
                condition=models.Q(desired_state__in=DesiredState.values),
                name="resource_desired_state_known",
            ),
            models.CheckConstraint(
                condition=models.Q(observed_state__in=ObservedState.values),
                name="resource_observed_state_known",
            ),
            models.CheckConstraint(condition=models.Q(qty__gte=1), name="resource_qty_positive"),
            models.CheckConstraint(
                condition=models.Q(generation__gte=1), name="resource_generation_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(observed_generation__lte=models.F("generation")),
                name="resource_observed_not_ahead",
            ),
        ]
        indexes = [
            # A deployment's resources in id (= creation) order: its list, the
            # lifecycle's UPDATE, the entitlements' sums.
            models.Index(fields=["deployment", "id"], name="resource_deployment_id"),
            models.Index(fields=["tenant", "id"], name="resource_tenant_id"),
            # The controllers' work queue: only pending rows are in it.
            models.Index(
                fields=["id"],
                condition=models.Q(observed_generation__lt=models.F("generation")),
                name="resource_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def pending(self) -> bool:
        return self.observed_generation < self.generation
