"""Subscription models: the binding of a deployment to a priced plan version.

The deployment is referenced by string so this app never imports deployments
code (deployments depends on subscriptions, not the other way round).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from subscriptions.periods import current_month_period


class Status(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    CANCELLED = "cancelled", "Cancelled"


def _default_period_start():
    return current_month_period()[0]


def _default_period_end():
    return current_month_period()[1]


class Subscription(models.Model):
    # OneToOne = a unique index on deployment_id: the database, not a check in
    # Python, decides which of two racing subscribe requests wins.
    deployment = models.OneToOneField(
        "deployments.Deployment", on_delete=models.PROTECT, related_name="subscription"
    )
    plan_version = models.ForeignKey(
        "catalog.PlanVersion", on_delete=models.PROTECT, related_name="subscriptions"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # Half-open [start, end): the default is the current calendar month in UTC.
    current_period_start = models.DateField(default=_default_period_start)
    current_period_end = models.DateField(default=_default_period_end)
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    #: When the clock recorded `subscription.trial_will_end` (once per trial).
    trial_warned_at = models.DateTimeField(null=True, blank=True)
    #: Set by the billing clock when it wrote the last statement this
    #: subscription will ever get (its deployment was cancelled or archived in
    #: that period): the clock never looks at it again.
    billing_ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=Status.values), name="subscription_status_known"
            ),
            models.CheckConstraint(
                condition=models.Q(current_period_end__gt=models.F("current_period_start")),
                name="subscription_period_not_empty",
            ),
        ]
        permissions = [("change_plan_subscription", "Can move a subscription to another plan")]

    def __str__(self) -> str:
        return f"subscription of {self.deployment_id}"


class SubscriptionAddon(models.Model):
    """An add-on as it was sold: code, kind, qty and price are copied from the
    live add-on at attach time, so a later catalog change never reprices this
    subscriber. Written only by `subscriptions.services.attach_addons`; the
    only later change is `detached_at`, set once by `detach_addon`."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="addons")
    addon = models.ForeignKey("catalog.Addon", on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=63)
    resource_kind = models.CharField(max_length=63)
    qty = models.PositiveIntegerField()
    price_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    attached_at = models.DateTimeField(default=timezone.now)
    #: When the line was detached (None: still attached). The line stays, for
    #: the history and the statements that bill it up to this instant.
    detached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["subscription", "id"], name="subaddon_subscription")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(detached_at__isnull=True)
                | models.Q(detached_at__gte=models.F("attached_at")),
                name="subaddon_detached_after_attached",
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.price_cents} {self.currency})"


class PlanChange(models.Model):
    """One plan-version change of a subscription. Append-only."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="plan_changes"
    )
    from_version = models.ForeignKey(
        "catalog.PlanVersion", on_delete=models.PROTECT, related_name="+"
    )
    to_version = models.ForeignKey(
        "catalog.PlanVersion", on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=254)
    request_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["subscription", "id"], name="planchange_subscription")]

    def __str__(self) -> str:
        return f"{self.subscription_id}: {self.from_version_id} → {self.to_version_id}"


class TrialGrant(models.Model):
    """A tenant has had the trial of a plan: one per (tenant, plan), by a unique
    constraint, so two racing requests cannot both get one. Written with the
    trial's subscription, in its transaction."""

    tenant = models.ForeignKey("arcadia_cloud.Tenant", on_delete=models.PROTECT, related_name="+")
    plan = models.ForeignKey("catalog.Plan", on_delete=models.PROTECT, related_name="+")
    subscription = models.OneToOneField(
        Subscription, on_delete=models.PROTECT, related_name="trial_grant"
    )
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "plan"], name="one_trial_per_tenant_and_plan")
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} trial of {self.plan_id}"


class PendingChange(models.Model):
    """A change scheduled for the end of the subscription's current period: a
    cancellation, or a move to another plan version. The billing clock applies
    it at that boundary with the authority of whoever requested it (re-checked
    then); until then it can be withdrawn. At most one pending change of each
    kind per subscription (a partial unique constraint): a new one replaces the
    old, which is withdrawn with the reason recorded."""

    class Kind(models.TextChoices):
        CANCEL = "cancel", "Cancel"
        CHANGE_PLAN = "change_plan", "Change plan"

    id = models.BigAutoField(primary_key=True)
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="pending_changes"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    target_version = models.ForeignKey(
        "catalog.PlanVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    effective_at = models.DateTimeField()
    #: Who asked: the clock acts with this authority when it applies the change.
    requested_by = models.CharField(max_length=254)
    requested_by_kind = models.CharField(max_length=16)
    requested_by_identity_id = models.BigIntegerField(null=True, blank=True)
    requested_by_tenant_id = models.UUIDField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True, default="")
    reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.CharField(max_length=254, blank=True, default="")
    withdrawn_reason = models.CharField(max_length=500, blank=True, default="")
    failed_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True, default="")

    PENDING = models.Q(applied_at__isnull=True, withdrawn_at__isnull=True, failed_at__isnull=True)

    class Meta:
        ordering = ["effective_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "kind"],
                condition=models.Q(
                    applied_at__isnull=True, withdrawn_at__isnull=True, failed_at__isnull=True
                ),
                name="one_pending_change_per_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=["cancel", "change_plan"]),
                name="pending_change_kind_known",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="cancel", target_version__isnull=True)
                | models.Q(kind="change_plan", target_version__isnull=False),
                name="pending_change_target_matches_kind",
            ),
        ]
        indexes = [
            models.Index(
                fields=["effective_at"],
                condition=models.Q(
                    applied_at__isnull=True, withdrawn_at__isnull=True, failed_at__isnull=True
                ),
                name="pending_change_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.subscription_id} at {self.effective_at:%Y-%m-%d}"

    @property
    def status(self) -> str:
        if self.applied_at:
            return "applied"
        if self.withdrawn_at:
            return "withdrawn"
        if self.failed_at:
            return "failed"
        return "pending"
