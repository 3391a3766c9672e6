"""Catalog models: plans, plan versions and add-ons.

Prices are integer cents plus an ISO 4217 currency. A plan's price lives on
its versions: once a version is published it never changes (the service, the
admin and a PostgreSQL trigger all refuse), so a price change is a new version
and every subscriber stays bound to the terms they signed up for. Add-ons are
live rows, not versioned: subscribers keep a snapshot taken at attach time.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

CURRENCY_PATTERN = r"^[A-Z]{3}$"
CODE_PATTERN = r"^[a-z0-9][a-z0-9_]{0,62}$"

currency_validator = RegexValidator(CURRENCY_PATTERN, "An ISO 4217 code, e.g. USD.")
code_validator = RegexValidator(CODE_PATTERN, "Lower-case letters, digits and '_'.")


def validate_quotas(value) -> None:
    """Included quotas: resource kind -> a non-negative whole number."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in value.items()
    ):
        raise ValidationError(
            'A mapping of resource kind to a non-negative whole number, e.g. {"seats": 5}.'
        )


class Interval(models.TextChoices):
    MONTH = "month", "Monthly"


class TrialEndBehavior(models.TextChoices):
    """What the billing clock does with a deployment when its trial ends."""

    ACTIVATE = "activate", "Activate (billing starts)"
    PAST_DUE = "past_due", "Past due (awaiting payment)"
    CANCEL = "cancel", "Cancel"


class Plan(models.Model):
    code = models.CharField(max_length=63, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class PlanVersion(models.Model):
    """The priced terms of a plan. Draft until published; immutable after."""

    #: Fields a published version may never change (mirrored by the trigger).
    TERMS = (
        "price_cents",
        "currency",
        "interval",
        "included_quotas",
        "trial_days",
        "trial_end_behavior",
    )

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    price_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, validators=[currency_validator])
    interval = models.CharField(max_length=16, choices=Interval.choices, default=Interval.MONTH)
    #: resource kind -> included quantity, e.g. {"storage_gb": 100, "seats": 5}
    included_quotas = models.JSONField(default=dict, blank=True, validators=[validate_quotas])
    #: Days of free trial a new subscriber may ask for (0: no trial offered).
    trial_days = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(365)])
    trial_end_behavior = models.CharField(
        max_length=16, choices=TrialEndBehavior.choices, default=TrialEndBehavior.ACTIVATE
    )
    published_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["plan_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "version"], name="planversion_unique_number"),
            models.CheckConstraint(
                condition=models.Q(retired_at__isnull=True) | models.Q(published_at__isnull=False),
                name="planversion_retired_after_published",
            ),
            models.CheckConstraint(
                condition=models.Q(interval__in=Interval.values), name="planversion_interval_known"
            ),
            models.CheckConstraint(
                condition=models.Q(trial_end_behavior__in=TrialEndBehavior.values),
                name="planversion_trial_end_behavior_known",
            ),
            models.CheckConstraint(
                condition=models.Q(trial_days__lte=365), name="planversion_trial_days_at_most_365"
            ),
        ]
        indexes = [
            models.Index(
                fields=["plan", "-version"],
                condition=models.Q(published_at__isnull=False, retired_at__isnull=True),
                name="planversion_live",
            )
        ]

    def __str__(self) -> str:
        return f"{self.plan.code} v{self.version}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None


class Addon(models.Model):
    """A live catalog item; its price may change, which affects only future attaches."""

    code = models.CharField(max_length=63, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    resource_kind = models.CharField(max_length=63, validators=[code_validator])
    qty = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    price_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, validators=[currency_validator])
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "add-on"
        constraints = [
            models.CheckConstraint(condition=models.Q(qty__gte=1), name="addon_qty_positive"),
        ]

    def __str__(self) -> str:
        return self.code
