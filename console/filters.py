"""Changelist filters of the operator console."""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import F, Q
from django.utils import timezone

from catalog.models import Plan
from console.dates import plural
from subscriptions.models import PendingChange
from subscriptions.selectors import trials_ending_within
from webhooks.selectors import failing_endpoints

#: A century: longer than any deployment has existed.
MAX_IN_STATE_DAYS = 36_600


class RegionFilter(admin.SimpleListFilter):
    title = "region"
    parameter_name = "region"

    def lookups(self, request, model_admin):
        return [(r, r) for r in settings.ARCADIA_REGIONS]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value not in settings.ARCADIA_REGIONS:
            raise IncorrectLookupParameters(f"region {value!r} is not one of the regions")
        return queryset.filter(region=value)


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
        return [(str(d), plural(d, "day")) for d in (1, 7, 14, 30, 90)]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        # ASCII digits only ("²" is str.isdigit() but not int()), and no more
        # days than datetime arithmetic can subtract from now.
        if not re.fullmatch(r"[0-9]{1,6}", value) or int(value) > MAX_IN_STATE_DAYS:
            raise IncorrectLookupParameters(
                f"in state longer than: {value!r} is not a number of days "
                f"from 0 to {MAX_IN_STATE_DAYS}"
            )
        return queryset.filter(state_since__lte=timezone.now() - timedelta(days=int(value)))


class DesiredVersusObservedFilter(admin.SimpleListFilter):
    """A resource's observed state against its desired one (a controller that
    has not caught up, or a resource that failed)."""

    title = "desired vs observed"
    parameter_name = "observed"
    MATCH, DIFFER = "match", "differ"

    def lookups(self, request, model_admin):
        return [(self.MATCH, "Observed = desired"), (self.DIFFER, "Observed ≠ desired")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        same = Q(observed_state=F("desired_state"))
        if value == self.MATCH:
            return queryset.filter(same)
        if value == self.DIFFER:
            return queryset.exclude(same)
        raise IncorrectLookupParameters(f"desired vs observed: {value!r} is not match or differ")


class PendingFilter(admin.SimpleListFilter):
    """Pending: the controllers have not reported the resource's current
    generation yet (`observed_generation < generation`)."""

    title = "pending"
    parameter_name = "pending"
    YES, NO = "yes", "no"

    def lookups(self, request, model_admin):
        return [(self.YES, "Pending"), (self.NO, "Up to date")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        pending = Q(observed_generation__lt=F("generation"))
        if value == self.YES:
            return queryset.filter(pending)
        if value == self.NO:
            return queryset.exclude(pending)
        raise IncorrectLookupParameters(f"pending: {value!r} is not yes or no")


class TrialEndingFilter(admin.SimpleListFilter):
    """In `trial`, with the trial ending within N days (`?trial_ends_days=N`)."""

    title = "trial ends within"
    parameter_name = "trial_ends_days"

    def lookups(self, request, model_admin):
        return [(str(d), plural(d, "day")) for d in (1, 3, 7, 14)]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not re.fullmatch(r"[0-9]{1,4}", value):
            raise IncorrectLookupParameters(
                f"trial ends within: {value!r} is not a number of days from 0 to 9999"
            )
        ending = trials_ending_within(int(value)).values("deployment_id")
        return queryset.filter(pk__in=ending)


class ScheduledChangeFilter(admin.SimpleListFilter):
    """A change scheduled for the period's end and still pending."""

    title = "scheduled change"
    parameter_name = "scheduled"

    def lookups(self, request, model_admin):
        return [(k, label) for k, label in PendingChange.Kind.choices]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value not in PendingChange.Kind.values:
            raise IncorrectLookupParameters(
                f"scheduled change: {value!r} is not one of {', '.join(PendingChange.Kind.values)}"
            )
        pending = PendingChange.objects.filter(PendingChange.PENDING, kind=value)
        return queryset.filter(subscription__in=pending.values("subscription_id"))


class FailingEndpointFilter(admin.SimpleListFilter):
    """Webhook endpoints whose deliveries fail (`webhooks.selectors.failing_endpoints`)."""

    title = "failing"
    parameter_name = "failing"
    YES = "yes"

    def lookups(self, request, model_admin):
        return [(self.YES, "Failing or disabled")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value != self.YES:
            raise IncorrectLookupParameters(f"failing: {value!r} is not yes")
        return queryset.filter(pk__in=failing_endpoints().values("pk"))
