"""Deployments in the admin: the changelist, the deployment page (with its
resources and entitlements), the read-only event history and the read-only
resources list. The moves, the override and the bulk action come
from `console.transitions.TransitionAdminMixin`, which calls the services;
nothing here saves a state or writes an event. Deployments are created
through the API and never edited or deleted here."""

from __future__ import annotations

import uuid

from django.contrib import admin
from django.core.exceptions import ObjectDoesNotExist
from django.forms.models import BaseInlineFormSet
from django.urls import reverse

from billing.selectors import monthly_total_by_currency
from console.charts import format_money, state_badge
from console.columns import override_column
from console.filters import (
    DesiredVersusObservedFilter,
    InStateLongerThanFilter,
    OverrideFilter,
    PendingFilter,
    PlanFilter,
    RegionFilter,
    TenantAutocompleteFilter,
    TenantFilterMediaMixin,
)
from console.plan_change import DeploymentPlanChangeMixin
from console.readonly import ReadOnlyAdmin, ReadOnlyAdminMixin, ReadOnlyTabularInline
from console.safety import SafeAdminMixin
from console.transitions import TransitionAdminMixin
from deployments import resource_selectors, selectors
from deployments.entitlements import entitlements_of
from deployments.models import BillingOverrideChange, CloudResource, Deployment, DeploymentEvent
from subscriptions.selectors import get_subscription_for_deployment

TIMELINE_LIMIT = 50
#: Resources listed on the deployment page (newest first; the rest one click away).
RESOURCES_SHOWN = 50


# -- Inlines: the timeline and the override history (read-only for everyone) -------


class TimelineFormSet(BaseInlineFormSet):
    """The newest events first, at most TIMELINE_LIMIT (the full history is one
    click away in the events list)."""

    def get_queryset(self):
        if not hasattr(self, "_timeline"):
            self._timeline = super().get_queryset().order_by("-id")[:TIMELINE_LIMIT]
        return self._timeline

    def save(self, commit=True):
        return []


class DeploymentEventInline(ReadOnlyTabularInline):
    model = DeploymentEvent
    formset = TimelineFormSet
    template = "admin/deployments/deployment/timeline_inline.html"
    verbose_name = "event"
    verbose_name_plural = "Timeline"
    fields = ["occurred_at", "from_state", "to_state", "actor", "reason", "notes", "request_id"]
    readonly_fields = fields


class BillingOverrideChangeInline(ReadOnlyTabularInline):
    model = BillingOverrideChange
    formset = TimelineFormSet
    verbose_name = "override change"
    verbose_name_plural = "Billing override history"
    fields = ["occurred_at", "value", "actor", "reason", "request_id"]
    readonly_fields = fields


# -- The deployment admin -----------------------------------------------------------


@admin.register(Deployment)
class DeploymentAdmin(
    SafeAdminMixin,
    TenantFilterMediaMixin,
    TransitionAdminMixin,
    DeploymentPlanChangeMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
    list_display = [
        "slug",
        "display_name",
        "tenant",
        "state_column",
        override_column,
        "state_since",
        "region",
        "plan_column",
    ]
    list_display_links = ["slug", "display_name"]
    # One query for the page, whatever its size: tenant and plan are joined in.
    list_select_related = ["tenant", "subscription__plan_version__plan"]
    list_filter = [
        "state",
        RegionFilter,
        TenantAutocompleteFilter,
        PlanFilter,
        ("billing_action_suspended", OverrideFilter),
        InStateLongerThanFilter,
    ]
    search_fields = ["slug", "display_name", "tenant__slug"]
    search_help_text = "Slug, display name, tenant slug, or a deployment id."
    list_per_page = 50
    ordering = ["-created_at", "-id"]
    inlines = [DeploymentEventInline, BillingOverrideChangeInline]
    fieldsets = [
        (None, {"fields": ["id", "tenant", "slug", "display_name", "region"]}),
        (
            "Lifecycle",
            {
                "fields": ["state", "state_since", "billing_action_suspended"],
                "classes": ["collapse"],
            },
        ),
        (
            "Runtime",
            {"fields": ["llm_mode", "template_code", "template_version"], "classes": ["collapse"]},
        ),
        ("Dates", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]
    readonly_fields = [
        "id",
        "tenant",
        "slug",
        "display_name",
        "region",
        "state",
        "state_since",
        "billing_action_suspended",
        "llm_mode",
        "template_code",
        "template_version",
        "created_at",
        "updated_at",
    ]

    # Deployments are created through the API (create_deployment writes the first
    # event) and never deleted; state and override change through their own
    # forms (TransitionAdminMixin). So the generic add/change/delete are closed
    # to everyone (ReadOnlyAdminMixin).

    def get_queryset(self, request):
        # The changelist and the deployment page both show tenant and plan. (The
        # changelist skips list_select_related once a queryset has joins, so
        # the joins live here.)
        return super().get_queryset(request).select_related(*self.list_select_related)

    # -- changelist -----------------------------------------------------------------

    @admin.display(description="state", ordering="state")
    def state_column(self, obj: Deployment):
        return state_badge(obj.state)

    @admin.display(description="plan", ordering="subscription__plan_version__plan__code")
    def plan_column(self, obj: Deployment):
        try:
            version = obj.subscription.plan_version
        except ObjectDoesNotExist:
            return "—"
        return f"{version.plan.code} v{version.version}"

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            deployment_id = uuid.UUID(search_term.strip())
        except ValueError:
            return results, may_have_duplicates
        return results | queryset.filter(pk=deployment_id), may_have_duplicates

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self._page_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _page_context(self, request, deployment: Deployment) -> dict:
        subscription = get_subscription_for_deployment(deployment.pk)
        subscription_block = None
        if subscription is not None:
            addons = list(subscription.addons.all())
            version = subscription.plan_version
            totals = monthly_total_by_currency(subscription, addons)
            subscription_block = {
                "subscription": subscription,
                "plan": version.plan,
                "version": version,
                "price": format_money(version.price_cents, version.currency),
                "addons": [
                    {"line": line, "price": format_money(line.price_cents, line.currency)}
                    for line in addons
                ],
                "totals": [format_money(c, cur) for cur, c in totals.items()],
                "url": reverse("admin:subscriptions_subscription_change", args=[subscription.pk]),
            }
        resources_changelist = reverse("admin:deployments_cloudresource_changelist")
        tenant_changelist = reverse("admin:deployments_deployment_changelist")
        others = selectors.tenant_deployments(deployment.tenant_id, exclude_id=deployment.pk)
        return {
            "console": {
                "state_badge": state_badge(deployment.state),
                "buttons": self.transition_buttons(request, deployment),
                "can_override": self.has_override_permission(request, deployment),
                "override_url": reverse(
                    "admin:deployments_deployment_override", args=[deployment.pk]
                ),
                "subscription": subscription_block,
                "other_deployments": [
                    {
                        "deployment": d,
                        "badge": state_badge(d.state),
                        "url": self.change_url(d),
                    }
                    for d in others
                ],
                "tenant_deployments_url": (
                    f"{tenant_changelist}?tenant__id__exact={deployment.tenant_id}"
                ),
                "events_url": (
                    reverse("admin:deployments_deploymentevent_changelist")
                    + f"?deployment__id__exact={deployment.pk}"
                ),
                "event_count": deployment.events.count(),
                "timeline_limit": TIMELINE_LIMIT,
                "entitlements": [
                    {"e": e, "over": e.used > e.limit} for e in entitlements_of(deployment.pk)
                ],
                "resources": resource_selectors.resources_of_deployment(
                    deployment.pk, limit=RESOURCES_SHOWN
                ),
                "resources_shown": RESOURCES_SHOWN,
                "resources_url": f"{resources_changelist}?deployment__id__exact={deployment.pk}",
            }
        }


@admin.register(DeploymentEvent)
class DeploymentEventAdmin(ReadOnlyAdmin):
    """The full, read-only history (the deployment page shows the newest events)."""

    list_display = [
        "occurred_at",
        "deployment",
        "tenant_column",
        "from_state",
        "to_state",
        "actor",
        "reason",
        "request_id",
    ]
    list_select_related = ["deployment__tenant"]
    list_filter = ["to_state", "from_state"]
    search_fields = ["=deployment__slug", "actor", "reason", "=request_id"]
    ordering = ["-id"]
    list_per_page = 100
    show_full_result_count = False
    fields = [
        "deployment",
        "from_state",
        "to_state",
        "actor",
        "reason",
        "notes",
        "request_id",
        "occurred_at",
    ]
    readonly_fields = fields

    @admin.display(description="tenant", ordering="deployment__tenant__slug")
    def tenant_column(self, obj: DeploymentEvent):
        return obj.deployment.tenant

    def lookup_allowed(self, lookup, value, request=None):
        # The deployment page links here filtered by deployment id.
        return lookup == "deployment__id__exact" or super().lookup_allowed(lookup, value, request)


@admin.register(CloudResource)
class CloudResourceAdmin(ReadOnlyAdmin):
    """Every tenant's resources, read-only: what is wanted changes through the
    API's services and the lifecycle, what is observed through the
    controllers' reports."""

    list_display = [
        "name",
        "kind",
        "qty",
        "deployment",
        "tenant",
        "desired_state",
        "observed_state",
        "generation",
        "observed_generation",
        "held",
        "updated_at",
    ]
    list_select_related = ["deployment", "tenant"]
    list_filter = [
        "kind",
        "desired_state",
        "observed_state",
        DesiredVersusObservedFilter,
        PendingFilter,
        "held",
    ]
    search_fields = ["name", "=deployment__slug", "=tenant__slug"]
    search_help_text = "Name, deployment slug, tenant slug, or a resource id."
    ordering = ["-id"]
    list_per_page = 100
    show_full_result_count = False
    fields = [
        "id",
        "deployment",
        "tenant",
        "kind",
        "name",
        "qty",
        "desired_state",
        "observed_state",
        "generation",
        "observed_generation",
        "held",
        "status_message",
        "observed_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            resource_id = uuid.UUID(search_term.strip())
        except ValueError:
            return results, may_have_duplicates
        return results | queryset.filter(pk=resource_id), may_have_duplicates

    def lookup_allowed(self, lookup, value, request=None):
        # The deployment page links here filtered by deployment id.
        return lookup == "deployment__id__exact" or super().lookup_allowed(lookup, value, request)
