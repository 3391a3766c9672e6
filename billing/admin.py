"""Statements in the console: read-only (the model is append-only, so nobody
adds, changes or deletes one here, not even a superuser), filtered by period
and by the plan billed, money shown in the currency's own minor units."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from arcadia_cloud.money import format_money
from billing.models import Statement
from console.filters import StatementPeriodFilter, StatementPlanFilter
from console.readonly import ReadOnlyAdmin


def _link(name: str, pk, text) -> str:
    return format_html('<a href="{}">{}</a>', reverse(f"admin:{name}_change", args=[pk]), text)


def _plans(statement: Statement) -> str:
    """The plan versions the lines bill, in order, once each: "studio v1, studio v2"."""
    seen: list[str] = []
    for line in statement.lines:
        if line.get("kind") == "plan":
            label = f"{line['code']} v{line['plan_version']}"
            if label not in seen:
                seen.append(label)
    return ", ".join(seen) or "-"


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "period",
        "tenant",
        "deployment_link",
        "plans",
        "total",
        "line_count",
        "closed_at",
    ]
    list_display_links = ["id", "period"]
    list_filter = [StatementPeriodFilter, StatementPlanFilter, "currency"]
    # Tenant and deployment links read both rows: joined, so the page costs the
    # same queries for 20 statements or 200.
    list_select_related = ["deployment__tenant"]
    search_fields = ["=deployment__slug", "=deployment__tenant__slug", "=subscription__id"]
    search_help_text = "Deployment slug, tenant slug or subscription id (exact)."
    list_per_page = 100
    fields = [
        "id",
        "period",
        "tenant",
        "deployment_link",
        "subscription_link",
        "currency",
        "total",
        "closed_at",
        "line_table",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        # the change page shows the same links: the same joins
        return super().get_queryset(request).select_related("deployment__tenant")

    @admin.display(description="period", ordering="period_start")
    def period(self, obj: Statement) -> str:
        return f"{obj.period_start:%Y-%m}"

    @admin.display(description="tenant", ordering="deployment__tenant__slug")
    def tenant(self, obj: Statement) -> str:
        tenant = obj.deployment.tenant
        return _link("arcadia_cloud_tenant", tenant.pk, tenant.slug)

    @admin.display(description="deployment", ordering="deployment__slug")
    def deployment_link(self, obj: Statement) -> str:
        return _link("deployments_deployment", obj.deployment_id, obj.deployment.slug)

    @admin.display(description="subscription")
    def subscription_link(self, obj: Statement) -> str:
        return _link("subscriptions_subscription", obj.subscription_id, obj.subscription_id)

    @admin.display(description="plan")
    def plans(self, obj: Statement) -> str:
        return _plans(obj)

    @admin.display(description="total", ordering="total_cents")
    def total(self, obj: Statement) -> str:
        return format_money(obj.total_cents, obj.currency)

    @admin.display(description="lines")
    def line_count(self, obj: Statement) -> int:
        return len(obj.lines)

    @admin.display(description="lines")
    def line_table(self, obj: Statement) -> str:
        if not obj.lines:
            return "No billable time in this period."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            '<td style="text-align:right">{}</td></tr>',
            (
                (
                    line["kind"],
                    line["code"],
                    line["description"],
                    format_money(line["unit_price_cents"], obj.currency),
                    line["starts_at"],
                    line["ends_at"],
                    format_money(line["amount_cents"], obj.currency),
                )
                for line in obj.lines
            ),
        )
        return format_html(
            '<table class="statement-lines"><thead><tr><th>kind</th><th>code</th>'
            "<th>description</th><th>unit price</th><th>from</th><th>until</th>"
            "<th>amount</th></tr></thead><tbody>{}</tbody><tfoot><tr>"
            '<th colspan="6">total</th><th style="text-align:right">{}</th></tr></tfoot></table>',
            rows,
            format_money(obj.total_cents, obj.currency),
        )
