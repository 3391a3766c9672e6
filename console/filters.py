"""Changelist filters of the operator console."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.utils import timezone

from catalog.models import Plan


class RegionFilter(admin.SimpleListFilter):
    title = "region"
    parameter_name = "region"

    def lookups(self, request, model_admin):
        return [(r, r) for r in settings.ARCADIA_REGIONS]

    def queryset(self, request, queryset):
        return queryset.filter(region=self.value()) if self.value() else queryset


class PlanFilter(admin.SimpleListFilter):
    title = "plan"
    parameter_name = "plan"
    NONE = "-"

    def lookups(self, request, model_admin):
        plans = [(p.code, p.name) for p in Plan.objects.order_by("code").only("code", "name")]
        return [*plans, (self.NONE, "No subscription")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value == self.NONE:
            return queryset.filter(subscription__isnull=True)
        return queryset.filter(subscription__plan_version__plan__code=value)


class InStateLongerThanFilter(admin.SimpleListFilter):
    """In the current state for at least N days (any N via `?in_state_days=N`)."""

    title = "in state longer than"
    parameter_name = "in_state_days"

    def lookups(self, request, model_admin):
        return [(str(d), f"{d} days") for d in (1, 7, 14, 30, 90)]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            raise IncorrectLookupParameters(f"in_state_days must be a whole number, not {value!r}")
        return queryset.filter(state_since__lte=timezone.now() - timedelta(days=int(value)))
