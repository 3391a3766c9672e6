"""Deployments in the admin: the changelist, the deployment page (its
timeline from the events feed, pending changes, statements, resources and
entitlements), the read-only event history and the read-only resources
list. The moves, the override and the bulk action come from
`console.transitions.TransitionAdminMixin`, which calls the services;
nothing here saves a state or writes an event. Deployments are created
through the API and never edited or deleted here."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from arcadia_cloud.models import User
from arcadia_cloud.money import format_money
from billing.models import Statement
from billing.selectors import monthly_total_by_currency, statements_of, upcoming_statement
from console.charts import state_badge
from console.columns import override_column
from console.dates import plural, utc_text, whole_days
from console.filters import (
    DesiredVersusObservedFilter,
    InStateLongerThanFilter,
    OverrideFilter,
    PendingFilter,
    PlanFilter,
    RegionFilter,
    ScheduledChangeFilter,
    TenantAutocompleteFilter,
    TenantFilterMediaMixin,
    TrialEndingFilter,
)
from console.pending import PendingChangeAdminMixin, pending_rows
from console.plan_change import DeploymentPlanChangeMixin
from console.readonly import ReadOnlyAdmin, ReadOnlyAdminMixin
from console.safety import SafeAdminMixin
from console.timeline import deployment_timeline
from console.transitions import TransitionAdminMixin
from deployments import resource_selectors, selectors
from deployments.entitlements import entitlements_of
from deployments.models import BillingOverrideChange, CloudResource, Deployment, DeploymentEvent
from subscriptions.selectors import get_subscription_for_deployment

#: Timeline rows on the deployment page (the History page pages through the rest).
TIMELINE_ON_PAGE = 20
#: Resources listed on the deployment page (newest first; the rest one click away).
RESOURCES_SHOWN = 50
#: Closed statements listed on the deployment page (newest first).
STATEMENTS_SHOWN = 6
#: Shortest UUID prefix the search matches on (fewer hex digits match too much).
UUID_PREFIX_MIN = 4
_HEX = re.compile(r"[0-9a-f]+")


def uuid_prefix_range(term: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The ids starting with `term` (hex digits, hyphens ignored, at least
    UUID_PREFIX_MIN digits) as the closed range [prefix000…, prefixfff…]: an
    exact prefix match that walks the primary-key index (the same order as the
    id's text on PostgreSQL's uuid and SQLite's hex column)."""
    digits = term.strip().lower().replace("-", "")
    if not UUID_PREFIX_MIN <= len(digits) <= 32 or not _HEX.fullmatch(digits):
        return None
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


def _with_preserved_filters(url: str, request) -> str:
    """`url` carrying the changelist search and filters the operator came from."""
    preserved = request.GET.get("_changelist_filters")
    if not preserved:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode({'_changelist_filters': preserved})}"


# -- The deployment admin -----------------------------------------------------------


@admin.register(Deployment)
class DeploymentAdmin(
    SafeAdminMixin,
    TenantFilterMediaMixin,
    PendingChangeAdminMixin,
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
        "days_in_state",
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
        TrialEndingFilter,
        ScheduledChangeFilter,
    ]
    search_fields = ["slug", "display_name", "tenant__slug", "tenant__name"]
    search_help_text = (
        "Slug, display name, tenant slug or name, the email of one of the tenant's "
        "identities, or the start of a deployment id (at least 4 hex digits)."
    )
    list_per_page = 50
    ordering = ["-created_at", "-id"]
    change_form_template = "admin/deployments/deployment/change_form.html"
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

    @admin.display(description="days in state", ordering="state_since")
    def days_in_state(self, obj: Deployment):
        # From the row's own state_since (written by every move): no query.
        days = whole_days(obj.state_since, timezone.now())
        return format_html(
            '<span title="{}">{}</span>', utc_text(obj.state_since), plural(days, "day")
        )

    @admin.display(description="plan", ordering="subscription__plan_version__plan__code")
    def plan_column(self, obj: Deployment):
        try:
            version = obj.subscription.plan_version
        except ObjectDoesNotExist:
            return "—"
        return f"{version.plan.code} v{version.version}"

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return results, may_have_duplicates
        extra = Q()
        if "@" in term:
            # An identity's email finds its tenant's deployments (a subquery:
            # no join, so no duplicate rows).
            extra |= Q(
                tenant_id__in=User.objects.filter(
                    email__icontains=term, tenant_id__isnull=False
                ).values("tenant_id")
            )
        bounds = uuid_prefix_range(term)
        if bounds is not None:
            extra |= Q(pk__gte=bounds[0], pk__lte=bounds[1])
        if extra:
            results = results | queryset.filter(extra)
        return results, may_have_duplicates

    # -- the deployment page --------------------------------------------------------

    def transition_view(self, request, object_id, to_state):
        return self._keep_filters(request, super().transition_view(request, object_id, to_state))

    def override_view(self, request, object_id):
        return self._keep_filters(request, super().override_view(request, object_id))

    @staticmethod
    def _keep_filters(request, response):
        # After a move (or its refusal) the operator lands on the deployment
        # page still carrying the search and filters of the list they came from.
        if isinstance(response, HttpResponseRedirect):
            response["Location"] = _with_preserved_filters(response["Location"], request)
        return response

    def history_view(self, request, object_id, extra_context=None):
        """Django's History button: the deployment's timeline (the feed), paged
        by position ("Older" links)."""
        deployment = self.get_object(request, unquote(object_id))
        if deployment is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, deployment):
            raise PermissionDenied
        before = request.GET.get("before")
        if before is not None and not re.fullmatch(r"[0-9]{1,18}", before):
            messages.error(request, f"{before!r} is not a position in the timeline.")
            return HttpResponseRedirect(request.path)
        timeline = deployment_timeline(deployment.pk, before=int(before) if before else None)
        context = {
            **self.admin_site.each_context(request),
            "title": f"History of {deployment.slug}",
            "subtitle": None,
            "module_name": str(self.opts.verbose_name_plural).capitalize(),
            "object": deployment,
            "opts": self.opts,
            "preserved_filters": self.get_preserved_filters(request),
            "timeline": timeline,
            "older_url": (
                f"{request.path}?before={timeline.older}" if timeline.older is not None else None
            ),
            "newest_url": request.path if before else None,
            "change_url": reverse("admin:deployments_deployment_change", args=[deployment.pk]),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/deployments/deployment/object_history.html", context
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self._page_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _page_context(self, request, deployment: Deployment) -> dict:
        subscription = get_subscription_for_deployment(deployment.pk)
        subscription_block = None
        pending = []
        upcoming = None
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
            pending = pending_rows(
                request,
                deployment.pk,
                subscription.pending_changes.all(),
                back=request.get_full_path(),  # keeps the list's filters too
            )
            upcoming = upcoming_statement(subscription)
        resources_changelist = reverse("admin:deployments_cloudresource_changelist")
        tenant_changelist = reverse("admin:deployments_deployment_changelist")
        others = selectors.tenant_deployments(deployment.tenant_id, exclude_id=deployment.pk)
        buttons = self.transition_buttons(request, deployment)
        for button in buttons:
            button["url"] = _with_preserved_filters(button["url"], request)
        last_override = selectors.last_override_change(deployment.pk)
        timeline = deployment_timeline(deployment.pk, limit=TIMELINE_ON_PAGE)
        history_url = reverse("admin:deployments_deployment_history", args=[deployment.pk])
        return {
            "console": {
                "state_badge": state_badge(deployment.state),
                "buttons": buttons,
                "can_override": self.has_override_permission(request, deployment),
                "override_url": _with_preserved_filters(
                    reverse("admin:deployments_deployment_override", args=[deployment.pk]),
                    request,
                ),
                "last_override": last_override,
                "back_url": self._changelist_url(request),
                "filtered": bool(request.GET.get("_changelist_filters")),
                "subscription": subscription_block,
                "pending": pending,
                "statements": [
                    _statement_block(s) for s in statements_of(deployment.pk)[:STATEMENTS_SHOWN]
                ],
                "statements_shown": STATEMENTS_SHOWN,
                "upcoming": _statement_block(upcoming) if upcoming is not None else None,
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
                "tenant_url": reverse(
                    "admin:arcadia_cloud_tenant_change", args=[deployment.tenant_id]
                ),
                "timeline": timeline,
                "history_url": history_url,
                "older_url": (
                    f"{history_url}?before={timeline.older}" if timeline.older is not None else None
                ),
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

    def _changelist_url(self, request) -> str:
        url = reverse("admin:deployments_deployment_changelist")
        preserved = request.GET.get("_changelist_filters")
        return f"{url}?{preserved}" if preserved else url


def _statement_block(statement) -> dict:
    """A statement (closed, or the open period's preview) with its money written
    by the one formatter (JPY has no minor unit, BHD three)."""
    currency = statement.currency
    lines = (
        statement.lines
        if isinstance(statement, Statement)
        else [line.as_dict() for line in statement.lines]
    )
    return {
        "statement": statement,
        "closed": isinstance(statement, Statement),
        "period_start": statement.period_start,
        "period_end": statement.period_end,
        "total": format_money(statement.total_cents, currency),
        "lines": [
            {
                "kind": line.get("kind"),
                "code": line.get("code"),
                "description": line.get("description"),
                "unit_price": format_money(int(line.get("unit_price_cents") or 0), currency),
                "amount": format_money(int(line.get("amount_cents") or 0), currency),
                "starts_at": line.get("starts_at"),
                "ends_at": line.get("ends_at"),
            }
            for line in lines
        ],
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


@admin.register(BillingOverrideChange)
class BillingOverrideChangeAdmin(ReadOnlyAdmin):
    """Every billing-override change, read-only, searchable (each deployment's
    own are on its timeline)."""

    list_display = ["occurred_at", "deployment", "override_column", "actor", "reason", "request_id"]
    list_select_related = ["deployment"]
    list_filter = ["value"]
    search_fields = ["=deployment__slug", "actor", "reason", "=request_id"]
    ordering = ["-id"]
    list_per_page = 100
    show_full_result_count = False
    fields = ["deployment", "value", "actor", "reason", "request_id", "occurred_at"]
    readonly_fields = fields

    @admin.display(description="billing override", ordering="value")
    def override_column(self, obj: BillingOverrideChange) -> str:
        # Words, not a ✓/✗ icon: "on" means automated billing actions are suspended.
        return "on (automated billing actions suspended)" if obj.value else "off"

    def lookup_allowed(self, lookup, value, request=None):
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
