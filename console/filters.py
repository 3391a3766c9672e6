"""Changelist filters of the operator console."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import F, Q
from django.utils import timezone

from arcadia_cloud.models import Tenant
from billing.export import parse_period
from billing.selectors import statement_periods, statements_billing_plan
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
        if not Plan.objects.filter(code=value).exists():
            raise IncorrectLookupParameters(f"plan {value!r} is not a plan of the catalog")
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


class StatementPeriodFilter(admin.SimpleListFilter):
    """A statement's period, `?period=YYYY-MM` (the newest periods offered)."""

    title = "period"
    parameter_name = "period"

    def lookups(self, request, model_admin):
        return [(f"{start:%Y-%m}", f"{start:%B %Y}") for start in statement_periods()]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        try:
            period = parse_period(value)
        except ValueError as exc:
            raise IncorrectLookupParameters(f"period: {exc}") from None
        return queryset.filter(period_start=period.start)


class StatementPlanFilter(admin.SimpleListFilter):
    """The plan a statement billed (a plan line of that code)."""

    title = "plan"
    parameter_name = "plan"

    def lookups(self, request, model_admin):
        return [(p.code, p.name) for p in Plan.objects.order_by("code").only("code", "name")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return statements_billing_plan(queryset, value)


class TenantAutocompleteFilter(admin.ListFilter):
    """The tenant as a search box (the admin's own autocomplete, fed by the
    tenant admin's search), not a list of every tenant: one query when a
    tenant is chosen (its name for the box), none otherwise. The parameter is
    `tenant__id__exact`, the one the deployment page's links use."""

    title = "tenant"
    parameter_name = "tenant__id__exact"
    template = "admin/console/autocomplete_filter.html"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        raw = params.pop(self.parameter_name, None)
        value = (raw[-1] if isinstance(raw, list) else raw) or None
        self.value = None
        if value is not None:
            try:
                self.value = uuid.UUID(value)
            except ValueError:
                raise IncorrectLookupParameters(
                    f"tenant: {value!r} is not a tenant id (pick one in the tenant box)"
                ) from None
        self.model_admin = model_admin
        self.field = model._meta.get_field("tenant")
        # the other parameters, kept when the box submits
        self.kept = [
            (name, v)
            for name, values in request.GET.lists()
            if name not in (self.parameter_name, "p", "e")
            for v in values
        ]

    def has_output(self) -> bool:
        return True

    def expected_parameters(self):
        return [self.parameter_name]

    def queryset(self, request, queryset):
        if self.value is None:
            return queryset
        return queryset.filter(tenant_id=self.value)

    def choices(self, changelist):
        yield {
            "selected": self.value is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "All tenants",
        }

    def widget(self):
        from django import forms
        from django.contrib.admin.widgets import AutocompleteSelect

        widget = AutocompleteSelect(self.field, self.model_admin.admin_site)
        widget.attrs.update(
            {"data-placeholder": "Type a tenant's slug or name", "id": "tenant-autocomplete"}
        )
        # The field gives the widget its choices: only the chosen tenant is read.
        field = forms.ModelChoiceField(
            queryset=Tenant.objects.only("pk", "slug", "name"), widget=widget, required=False
        )
        return field.widget

    def rendered(self):
        widget = self.widget()
        return widget.render(self.parameter_name, str(self.value) if self.value else None)


class TenantFilterMediaMixin:
    """For a ModelAdmin with `TenantAutocompleteFilter`: the autocomplete's
    scripts and styles in the page's head (merged with the admin's own, so
    jQuery loads once)."""

    @property
    def media(self):
        from django.contrib.admin.widgets import AutocompleteSelect

        field = self.model._meta.get_field("tenant")
        return super().media + AutocompleteSelect(field, self.admin_site).media


class OverrideFilter(admin.BooleanFieldListFilter):
    """The billing override as the console names it: "on" / "off"."""

    LABELS = {"Yes": "On", "No": "Off"}

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = "billing override"

    def choices(self, changelist):
        for choice in super().choices(changelist):
            yield {**choice, "display": self.LABELS.get(str(choice["display"]), choice["display"])}


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
