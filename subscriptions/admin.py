"""Subscriptions admin: read-only records (snapshots and plan-change history
are never edited here) and the "Change plan" page (`console.plan_change`),
which calls the service."""

from __future__ import annotations

from django.contrib import admin

from console.money import money_or_dash
from console.plan_change import SubscriptionPlanChangeMixin
from console.readonly import ReadOnlyAdmin, ReadOnlyTabularInline
from subscriptions.models import PendingChange, PlanChange, Subscription, SubscriptionAddon
from subscriptions.selectors import pending_changes


class SubscriptionAddonInline(ReadOnlyTabularInline):
    """The add-ons as sold: prices snapshotted at attach time."""

    model = SubscriptionAddon
    fields = ["code", "resource_kind", "qty", "price", "attached_at", "detached_at", "addon"]
    verbose_name_plural = "add-ons (as sold, snapshotted at attach time)"

    @admin.display(description="price")
    def price(self, obj: SubscriptionAddon) -> str:
        return money_or_dash(obj.price_cents, obj.currency)

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
class SubscriptionAdmin(SubscriptionPlanChangeMixin, ReadOnlyAdmin):
    list_display = [
        "id",
        "deployment",
        "tenant",
        "plan_version",
        "plan_price",
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

    @admin.display(description="tenant", ordering="deployment__tenant__slug")
    def tenant(self, obj: Subscription) -> str:
        return obj.deployment.tenant.slug

    @admin.display(description="plan price", ordering="plan_version__price_cents")
    def plan_price(self, obj: Subscription) -> str:
        return money_or_dash(obj.plan_version.price_cents, obj.plan_version.currency)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["change_plan_url"] = self.change_plan_url(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)


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
