"""The operator console: deployments in the Django admin.

Thin over the services: a transition (one deployment or a selection) is a form
asking for a reason, then `deployments.transitions.transition_state`; the
billing override is a form, then `deployments.services.set_billing_override`.
Nothing here saves a state or writes an event itself. Which buttons a staff
user sees is what the transitions map allows an operator from the current
state, and only if the user holds the permission (`deployments.operators`).
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from arcadia_cloud.actors import Actor
from arcadia_cloud.admin_safety import SafeAdminMixin
from arcadia_cloud.errors import DomainError
from catalog.models import Plan
from deployments import selectors
from deployments.charts import Bar, bar_chart, format_money, state_badge, state_colour
from deployments.diagram import svg as state_diagram_svg
from deployments.errors import InvalidTransition, TransitionForbidden
from deployments.models import BillingOverrideChange, Deployment, DeploymentEvent, State
from deployments.operators import OVERRIDE_PERM, TRANSITION_PERM
from deployments.services import set_billing_override
from deployments.transitions import allowed_targets, transition_state
from subscriptions.selectors import (
    addons_of,
    get_subscription_for_deployment,
    monthly_recurring_revenue,
    monthly_total_by_currency,
    revenue_totals,
)

TIMELINE_LIMIT = 50
#: A century: longer than any deployment has existed.
MAX_IN_STATE_DAYS = 36_600
BULK_FAILURES_SHOWN = 10


def operator_actor(request: HttpRequest) -> Actor:
    """The staff user as an operator; callers have checked the permission."""
    return Actor.for_operator(request.user, request_id=getattr(request, "request_id", ""))


def _label(state: str) -> str:
    return State(state).label if state in State.values else state


# -- Forms -----------------------------------------------------------------------


class TransitionForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        help_text="Why: recorded on the event and shown on the timeline.",
        widget=forms.TextInput(attrs={"size": 60, "autofocus": True}),
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))
    # The state the operator saw: if someone moved the deployment meanwhile the
    # service refuses (state conflict) instead of applying a stale decision.
    expected_state = forms.CharField(widget=forms.HiddenInput)


class BulkTransitionForm(forms.Form):
    to_state = forms.ChoiceField(label="Move to")
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 60}))
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))

    def __init__(self, *args, targets: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_state"].choices = [(s, _label(s)) for s in targets]


class OverrideForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        help_text="Why: recorded in the override history.",
        widget=forms.TextInput(attrs={"size": 60, "autofocus": True}),
    )
    # The value being set, so a double submit cannot flip the flag back.
    suspended = forms.BooleanField(required=False, widget=forms.HiddenInput)


# -- Changelist filters ------------------------------------------------------------


class RegionFilter(admin.SimpleListFilter):
    title = "region"
    parameter_name = "region"

    def lookups(self, request, model_admin):
        from django.conf import settings

        return [(r, r) for r in settings.ARCADIA_REGIONS]

    def queryset(self, request, queryset):
        from django.conf import settings

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
        return [(str(d), f"{d} days") for d in (1, 7, 14, 30, 90)]

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


# -- Inlines: the timeline and the override history (read-only for everyone) -------


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    # Events and override changes are append-only: nobody, not even a
    # superuser, adds, changes or deletes one from the admin.
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TimelineFormSet(BaseInlineFormSet):
    """The newest events first, at most TIMELINE_LIMIT (the full history is one
    click away in the events list)."""

    def get_queryset(self):
        if not hasattr(self, "_timeline"):
            self._timeline = super().get_queryset().order_by("-id")[:TIMELINE_LIMIT]
        return self._timeline

    def save(self, commit=True):
        return []


class DeploymentEventInline(_ReadOnlyInline):
    model = DeploymentEvent
    formset = TimelineFormSet
    template = "admin/deployments/deployment/timeline_inline.html"
    verbose_name = "event"
    verbose_name_plural = "Timeline"
    fields = ["occurred_at", "from_state", "to_state", "actor", "reason", "notes", "request_id"]
    readonly_fields = fields


class BillingOverrideChangeInline(_ReadOnlyInline):
    model = BillingOverrideChange
    formset = TimelineFormSet
    verbose_name = "override change"
    verbose_name_plural = "Billing override history"
    fields = ["occurred_at", "value", "actor", "reason", "request_id"]
    readonly_fields = fields


# -- The deployment admin -----------------------------------------------------------


@admin.register(Deployment)
class DeploymentAdmin(SafeAdminMixin, admin.ModelAdmin):
    list_display = [
        "slug",
        "display_name",
        "tenant",
        "state_column",
        "state_since",
        "region",
        "plan_column",
        "billing_action_suspended",
    ]
    list_display_links = ["slug", "display_name"]
    # One query for the page, whatever its size: tenant and plan are joined in.
    list_select_related = ["tenant", "subscription__plan_version__plan"]
    list_filter = [
        "state",
        RegionFilter,
        "tenant",
        PlanFilter,
        "billing_action_suspended",
        InStateLongerThanFilter,
    ]
    search_fields = ["slug", "display_name", "tenant__slug"]
    search_help_text = "Slug, display name, tenant slug, or a deployment id."
    list_per_page = 50
    date_hierarchy = None
    ordering = ["-created_at", "-id"]
    actions = ["transition_selected"]
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
    # forms below. So the generic add/change/delete are closed to everyone.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        # The changelist and the deployment page both show tenant and plan. (The
        # changelist skips list_select_related once a queryset has joins, so
        # the joins live here.)
        return super().get_queryset(request).select_related(*self.list_select_related)

    def has_transition_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.has_perm(TRANSITION_PERM)

    def has_override_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.has_perm(OVERRIDE_PERM)

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

    @admin.action(description="Transition selected deployments…", permissions=["transition"])
    def transition_selected(self, request, queryset: QuerySet[Deployment]):
        selected = list(
            queryset.select_related(None).order_by("pk").only("pk", "slug", "state", "tenant_id")
        )
        actor = operator_actor(request)
        targets = sorted(
            {t for d in selected for t in allowed_targets(d, actor)}, key=State.values.index
        )
        form = None
        if "apply" in request.POST:
            form = BulkTransitionForm(request.POST, targets=targets)
            if form.is_valid():
                self._apply_bulk(request, selected, actor, form.cleaned_data)
                return None
        if form is None:
            form = BulkTransitionForm(targets=targets)
        states = sorted({d.state for d in selected}, key=State.values.index)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Transition deployments",
            "form": form,
            "deployments": selected[:20],
            "more": max(0, len(selected) - 20),
            "count": len(selected),
            "states": [state_badge(s) for s in states],
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "selected_ids": [str(d.pk) for d in selected],
            "select_across": request.POST.get("select_across", "0"),
            "media": self.media,
        }
        return TemplateResponse(
            request, "admin/deployments/deployment/bulk_transition.html", context
        )

    def _apply_bulk(self, request, selected: list[Deployment], actor: Actor, data: dict) -> None:
        """One `transition_state` per deployment, each in its own transaction, so
        one failure does not undo the others. The service decides: skipped = the
        map has no operator move from that deployment's state to the target;
        failed = any other refusal (e.g. someone moved it meanwhile)."""
        to_state = data["to_state"]
        moved, skipped, failures = 0, 0, []
        for deployment in selected:
            try:
                transition_state(
                    deployment_id=deployment.pk,
                    to_state=to_state,
                    actor=actor,
                    reason=data["reason"],
                    notes=data["notes"],
                    expected_state=deployment.state,
                )
            except (InvalidTransition, TransitionForbidden):
                skipped += 1
            except DomainError as exc:
                failures.append(f"{deployment.slug}: {exc.code}")
            else:
                moved += 1
        summary = f"→ {_label(to_state)}: moved {moved}, skipped {skipped}, failed {len(failures)}."
        if failures:
            shown = ", ".join(failures[:BULK_FAILURES_SHOWN])
            extra = len(failures) - BULK_FAILURES_SHOWN
            more = f" (and {extra} more)" if extra > 0 else ""
            self.message_user(request, f"{summary} Failed: {shown}{more}", messages.WARNING)
        else:
            self.message_user(request, summary, messages.SUCCESS)

    # -- the deployment page ----------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/transition/<str:to_state>/",
                wrap(self.transition_view),
                name="{}_{}_transition".format(*info),
            ),
            path(
                "<path:object_id>/override/",
                wrap(self.override_view),
                name="{}_{}_override".format(*info),
            ),
            *super().get_urls(),
        ]

    def _change_url(self, deployment: Deployment) -> str:
        return reverse("admin:deployments_deployment_change", args=[deployment.pk])

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self._page_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _page_context(self, request, deployment: Deployment) -> dict:
        buttons = []
        if self.has_transition_permission(request, deployment):
            for target in allowed_targets(deployment, operator_actor(request)):
                buttons.append(
                    {
                        "state": target,
                        "label": _label(target),
                        "colour": state_colour(target),
                        "url": reverse(
                            "admin:deployments_deployment_transition",
                            args=[deployment.pk, target],
                        ),
                    }
                )
        subscription = get_subscription_for_deployment(deployment.pk)
        subscription_block = None
        if subscription is not None:
            addons = list(addons_of(subscription.pk))
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
        tenant_changelist = reverse("admin:deployments_deployment_changelist")
        others = selectors.tenant_deployments(deployment.tenant_id, exclude_id=deployment.pk)
        return {
            "console": {
                "state_badge": state_badge(deployment.state),
                "buttons": buttons,
                "can_override": self.has_override_permission(request, deployment),
                "override_url": reverse(
                    "admin:deployments_deployment_override", args=[deployment.pk]
                ),
                "subscription": subscription_block,
                "other_deployments": [
                    {
                        "deployment": d,
                        "badge": state_badge(d.state),
                        "url": self._change_url(d),
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
            }
        }

    def _get_or_404(self, request, object_id) -> Deployment:
        deployment = self.get_object(request, object_id)
        if deployment is None:
            raise Http404("No such deployment.")
        return deployment

    def _form_page(self, request, deployment, *, title, form, template, **extra) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": deployment,
            "title": title,
            "form": form,
            "state_badge": state_badge(deployment.state),
            "change_url": self._change_url(deployment),
            **extra,
        }
        return TemplateResponse(request, template, context)

    def transition_view(self, request, object_id, to_state) -> HttpResponse:
        if not self.has_transition_permission(request):
            raise PermissionDenied
        deployment = self._get_or_404(request, object_id)
        actor = operator_actor(request)
        change_url = self._change_url(deployment)
        if request.method == "POST":
            form = TransitionForm(request.POST)
            if form.is_valid():
                try:
                    transition_state(
                        deployment_id=deployment.pk,
                        to_state=to_state,
                        actor=actor,
                        reason=form.cleaned_data["reason"],
                        notes=form.cleaned_data["notes"],
                        expected_state=form.cleaned_data["expected_state"],
                    )
                except DomainError as exc:
                    messages.error(request, f"Not moved: {exc}.")
                    return HttpResponseRedirect(change_url)
                messages.success(
                    request,
                    f"{deployment.slug}: {_label(deployment.state)} → {_label(to_state)}.",
                )
                return HttpResponseRedirect(change_url)
        else:
            if to_state not in allowed_targets(deployment, actor):
                messages.error(
                    request,
                    f"{_label(deployment.state)} → {to_state} is not a move an operator "
                    "can make now.",
                )
                return HttpResponseRedirect(change_url)
            form = TransitionForm(initial={"expected_state": deployment.state})
        return self._form_page(
            request,
            deployment,
            title=f"Move {deployment.slug} to {_label(to_state)}",
            form=form,
            template="admin/deployments/deployment/transition_form.html",
            to_badge=state_badge(to_state),
            submit_label=f"Move to {_label(to_state)}",
        )

    def override_view(self, request, object_id) -> HttpResponse:
        if not self.has_override_permission(request):
            raise PermissionDenied
        deployment = self._get_or_404(request, object_id)
        change_url = self._change_url(deployment)
        turning_on = not deployment.billing_action_suspended
        if request.method == "POST":
            form = OverrideForm(request.POST)
            if form.is_valid():
                # The value is part of the form, so a double submit sets the same
                # value again, which the service treats as a no-op.
                value = form.cleaned_data["suspended"]
                try:
                    set_billing_override(
                        deployment_id=deployment.pk,
                        suspended=value,
                        actor=operator_actor(request),
                        reason=form.cleaned_data["reason"],
                    )
                except (DomainError, ValidationError) as exc:
                    messages.error(request, f"Override not changed: {exc}.")
                    return HttpResponseRedirect(change_url)
                messages.success(
                    request,
                    "Automated billing actions now skip this deployment."
                    if value
                    else "Automated billing actions apply to this deployment again.",
                )
                return HttpResponseRedirect(change_url)
        else:
            form = OverrideForm(initial={"suspended": turning_on})
        return self._form_page(
            request,
            deployment,
            title=(
                f"Suspend automated billing actions for {deployment.slug}"
                if turning_on
                else f"Resume automated billing actions for {deployment.slug}"
            ),
            form=form,
            template="admin/deployments/deployment/override_form.html",
            turning_on=turning_on,
        )


@admin.register(DeploymentEvent)
class DeploymentEventAdmin(SafeAdminMixin, admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# -- The dashboard (linked from the admin index) -----------------------------------


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """Deployments by state and region, aging past_due, MRR by plan, the newest
    events and the state diagram. A fixed number of aggregate queries."""
    if not request.user.has_perm("deployments.view_deployment"):
        raise PermissionDenied
    by_state = selectors.deployment_counts_by_state()
    by_region = selectors.deployment_counts_by_region()
    past_due = selectors.past_due_older_than()
    revenue = monthly_recurring_revenue()
    totals = revenue_totals(revenue)
    events = selectors.latest_events(20)
    changelist = reverse("admin:deployments_deployment_changelist")
    context = {
        **admin.site.each_context(request),
        "title": "Operator dashboard",
        "total": sum(by_state.values()),
        "state_chart": mark_safe(  # bar_chart escapes every label
            bar_chart(
                [Bar(_label(s), n, state_colour(s)) for s, n in by_state.items()],
                title="Deployments by state",
            )
        ),
        "region_chart": mark_safe(  # bar_chart escapes every label
            bar_chart(
                [Bar(r, n, "#1a73e8") for r, n in by_region.items()],
                title="Deployments by region",
            )
        ),
        "past_due": [
            {
                "days": days,
                "count": count,
                "url": f"{changelist}?state__exact=past_due&in_state_days={days}",
            }
            for days, count in past_due.items()
        ],
        "revenue": [
            {
                "line": line,
                "plan_money": format_money(line.plan_cents, line.currency),
                "addon_money": format_money(line.addon_cents, line.currency),
                "total_money": format_money(line.total_cents, line.currency),
                "url": f"{changelist}?plan={line.plan_code}",
            }
            for line in revenue
        ],
        "revenue_totals": [format_money(c, cur) for cur, c in totals.items()],
        "events": [
            {
                "event": e,
                "from_badge": state_badge(e.from_state) if e.from_state else None,
                "to_badge": state_badge(e.to_state),
                "url": reverse("admin:deployments_deployment_change", args=[e.deployment_id]),
            }
            for e in events
        ],
        "diagram": mark_safe(state_diagram_svg()),  # generated from the map, names escaped
        "changelist": changelist,
    }
    return TemplateResponse(request, "admin/deployments/dashboard.html", context)
