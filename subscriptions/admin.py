"""Subscriptions admin: read-only records (snapshots and plan-change history
are never edited here) and a change-plan action that calls the service."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse

from arcadia_cloud.actors import Actor
from arcadia_cloud.errors import DomainError
from console.forms import ChangePlanForm
from console.readonly import ReadOnlyAdmin, ReadOnlyTabularInline
from deployments.services import change_subscription_plan
from subscriptions.models import PendingChange, PlanChange, Subscription, SubscriptionAddon
from subscriptions.selectors import pending_changes


class SubscriptionAddonInline(ReadOnlyTabularInline):
    """The add-ons as sold: prices snapshotted at attach time."""

    model = SubscriptionAddon
    fields = ["code", "resource_kind", "qty", "price_cents", "currency", "attached_at", "addon"]
    verbose_name_plural = "add-ons (as sold, snapshotted at attach time)"

    def get_queryset(self, request):
        # each line shows its catalog add-on: joined, not one query a line
        return super().get_queryset(request).select_related("addon")


class PlanChangeInline(ReadOnlyTabularInline):
    model = PlanChange
    fields = ["changed_at", "from_version", "to_version", "actor", "request_id"]
    verbose_name_plural = "plan changes"

    def get_queryset(self, request):
        # a version prints as "<plan code> v<n>": both versions and their plans joined
        return (
            super().get_queryset(request).select_related("from_version__plan", "to_version__plan")
        )


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "deployment",
        "tenant",
        "plan_version",
        "price_cents",
        "status",
        "current_period_start",
        "current_period_end",
    ]
    list_filter = ["status", "plan_version__plan"]
    list_select_related = ["deployment__tenant", "plan_version__plan"]
    search_fields = ["deployment__slug", "=deployment__id", "deployment__tenant__slug"]
    fields = [
        "deployment",
        "plan_version",
        "status",
        "current_period_start",
        "current_period_end",
        "trial_ends_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    inlines = [SubscriptionAddonInline, PlanChangeInline]
    actions = ["change_plan"]

    @admin.display(description="tenant", ordering="deployment__tenant__slug")
    def tenant(self, obj: Subscription) -> str:
        return obj.deployment.tenant.slug

    @admin.display(description="plan price (cents)")
    def price_cents(self, obj: Subscription) -> str:
        return f"{obj.plan_version.price_cents} {obj.plan_version.currency}"

    def has_change_plan_permission(self, request) -> bool:
        return request.user.has_perm("subscriptions.change_plan_subscription")

    @admin.action(description="Change plan…", permissions=["change_plan"])
    def change_plan(self, request, queryset):
        form = ChangePlanForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            actor = Actor.from_admin_request(request)
            moved = 0
            for subscription in queryset.order_by("pk"):
                try:
                    change_subscription_plan(
                        deployment_id=subscription.deployment_id,
                        plan_code=form.cleaned_data["plan"].code,
                        version=form.cleaned_data["version"],
                        actor=actor,
                    )
                    moved += 1
                except DomainError as exc:
                    self.message_user(
                        request, f"subscription {subscription.pk}: {exc.code}", messages.WARNING
                    )
            if moved:
                self.message_user(request, f"{moved} subscription(s) moved.", messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "admin/subscriptions/change_plan.html",
            {
                **self.admin_site.each_context(request),
                "title": "Change plan",
                "opts": self.model._meta,
                "form": form,
                "subscriptions": queryset.select_related("deployment", "plan_version__plan"),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
        )


@admin.register(PlanChange)
class PlanChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_at", "subscription", "from_version", "to_version", "actor"]
    list_select_related = ["from_version__plan", "to_version__plan", "subscription"]
    search_fields = ["actor", "request_id", "subscription__deployment__slug"]
    list_filter = ["to_version__plan"]
    fields = ["subscription", "from_version", "to_version", "changed_at", "actor", "request_id"]
    readonly_fields = fields


# -- Scheduled changes (pending) on the subscription page, with withdraw -------------


class PendingChangeInline(ReadOnlyTabularInline):
    """The changes scheduled for the period's end and not applied yet; each
    links to the withdraw page (a reason is required there), shown only to
    whoever may withdraw that kind (console.pending.WITHDRAW_PERM)."""

    model = PendingChange
    template = "admin/subscriptions/subscription/pending_changes_inline.html"
    fields = ["kind", "target_version", "effective_at", "requested_by", "reason"]
    verbose_name_plural = "scheduled changes"

    def get_queryset(self, request):
        return pending_changes()


SubscriptionAdmin.inlines = [*SubscriptionAdmin.inlines, PendingChangeInline]
