"""Catalog write services: plan versions (draft, publish, retire) and add-ons.

A published version is immutable: these services refuse to change its terms,
the admin shows it read-only, and on PostgreSQL a trigger rejects any UPDATE
of its terms whatever the caller.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from catalog.errors import PublishedVersionImmutable, VersionStateError
from catalog.models import Addon, Interval, Plan, PlanVersion, TrialEndBehavior


def _validated(instance, *, exclude: list[str] | None = None):
    instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    return instance


def create_plan(*, code: str, name: str, description: str = "") -> Plan:
    plan = _validated(Plan(code=code, name=name, description=description))
    if Plan.objects.filter(code=code).exists():
        raise ValidationError({"code": ["A plan with this code already exists."]})
    plan.save()
    return plan


def update_plan(*, plan: Plan, name: str, description: str) -> Plan:
    """Rename or re-describe a plan. Its code (how API clients name it) and its
    versions' terms are not touched."""
    plan.name, plan.description = name, description
    _validated(plan)
    plan.save(update_fields=["name", "description"])
    return plan


def create_plan_version(
    *,
    plan: Plan,
    price_cents: int,
    currency: str,
    interval: str = Interval.MONTH,
    included_quotas: dict[str, int] | None = None,
    trial_days: int = 0,
    trial_end_behavior: str = TrialEndBehavior.ACTIVATE,
) -> PlanVersion:
    """A new draft version numbered one past the plan's highest.

    Locks the plan row so two operators adding versions at once get 2 and 3,
    not two 2s (the unique constraint is the backstop).
    """
    with transaction.atomic():
        Plan.objects.select_for_update().filter(pk=plan.pk).first()
        highest = plan.versions.aggregate(n=Max("version"))["n"] or 0
        version = _validated(
            PlanVersion(
                plan=plan,
                version=highest + 1,
                price_cents=price_cents,
                currency=currency,
                interval=interval,
                included_quotas=included_quotas or {},
                trial_days=trial_days,
                trial_end_behavior=trial_end_behavior,
            )
        )
        version.save(force_insert=True)
    return version


def update_draft_version(*, plan_version: PlanVersion, **terms: Any) -> PlanVersion:
    """Change the terms of a draft. A published version raises PublishedVersionImmutable."""
    unknown = set(terms) - set(PlanVersion.TERMS)
    if unknown:
        raise ValidationError({name: ["Not a term of a plan version."] for name in unknown})
    with transaction.atomic():
        locked = PlanVersion.objects.select_for_update().get(pk=plan_version.pk)
        if locked.is_published:
            raise PublishedVersionImmutable(locked.pk)
        for name, value in terms.items():
            setattr(locked, name, value)
        _validated(locked)
        locked.save(update_fields=[*terms.keys()])
    return locked


def delete_draft_version(*, plan_version: PlanVersion) -> None:
    """Delete a draft (never on sale, so no subscriber is bound to it). A
    published version raises PublishedVersionImmutable: retire it instead.
    Locks the row so a concurrent publish cannot slip in after the check."""
    with transaction.atomic():
        locked = PlanVersion.objects.select_for_update().get(pk=plan_version.pk)
        if locked.is_published:
            raise PublishedVersionImmutable(locked.pk)
        locked.delete()


def publish_plan_version(*, plan_version: PlanVersion) -> PlanVersion:
    """Put a draft on sale; from now on its terms are frozen.

    Locks the row so a concurrent draft edit cannot slip in after the check.
    """
    with transaction.atomic():
        locked = PlanVersion.objects.select_for_update().get(pk=plan_version.pk)
        if locked.is_published:
            raise VersionStateError(locked.pk, "already published")
        locked.published_at = timezone.now()
        locked.save(update_fields=["published_at"])
    return locked


def retire_plan_version(*, plan_version: PlanVersion) -> PlanVersion:
    """Take a published version off sale. Existing subscribers keep it."""
    with transaction.atomic():
        locked = PlanVersion.objects.select_for_update().get(pk=plan_version.pk)
        if not locked.is_published:
            raise VersionStateError(locked.pk, "a draft cannot be retired; delete it instead")
        if locked.is_retired:
            raise VersionStateError(locked.pk, "already retired")
        locked.retired_at = timezone.now()
        locked.save(update_fields=["retired_at"])
    return locked


def create_addon(
    *,
    code: str,
    name: str,
    resource_kind: str,
    qty: int,
    price_cents: int,
    currency: str,
    active: bool = True,
) -> Addon:
    addon = _validated(
        Addon(
            code=code,
            name=name,
            resource_kind=resource_kind,
            qty=qty,
            price_cents=price_cents,
            currency=currency,
            active=active,
        )
    )
    if Addon.objects.filter(code=code).exists():
        raise ValidationError({"code": ["An add-on with this code already exists."]})
    addon.save()
    return addon


def update_addon(*, addon: Addon, **changes: Any) -> Addon:
    """Change a live add-on (name, kind, qty, price, currency, active).

    Add-ons are not versioned: the new values apply to future attaches only,
    because every subscriber holds a snapshot taken when it attached.
    """
    allowed = {"name", "resource_kind", "qty", "price_cents", "currency", "active"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError({name: ["Cannot be changed."] for name in unknown})
    with transaction.atomic():
        locked = Addon.objects.select_for_update().get(pk=addon.pk)
        for name, value in changes.items():
            setattr(locked, name, value)
        _validated(locked)
        locked.save(update_fields=[*changes.keys(), "updated_at"])
    return locked
