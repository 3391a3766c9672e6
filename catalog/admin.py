"""Catalog admin: plans with their versions, add-ons.

Every write goes through `catalog.services`; a published version is shown
read-only (its terms are frozen, and on PostgreSQL the database refuses too).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from arcadia_cloud.errors import DomainError
from catalog import selectors, services
from catalog.models import Addon, Plan, PlanVersion
from console.money import MajorUnitsPriceForm, major_text, money_or_dash
from console.safety import SafeAdminMixin
from subscriptions.selectors import subscriber_counts

VERSION_FIELDS = [
    "plan",
    "version",
    "price_cents",
    "currency",
    "interval",
    "included_quotas",
    "trial_days",
    "trial_end_behavior",
    "published_at",
    "retired_at",
    "created_at",
]


def version_status(version: PlanVersion) -> str:
    """ "on sale" for the plan's active version (the newest published, not
    retired one: what new subscribers get), "published, superseded" for an
    older published one (its subscribers keep it), "draft", "retired". Reads
    `on_sale_id`, annotated by `with_on_sale`."""
    if version.is_retired:
        return "retired"
    if version.is_published:
        if getattr(version, "on_sale_id", None) == version.pk:
            return "on sale"
        return "published, superseded"
    return "draft"


def with_on_sale(queryset):
    """Each version annotated with its plan's active version id (one subquery,
    no query per row)."""
    active = (
        selectors.live_versions().filter(plan=OuterRef("plan")).order_by("-version").values("pk")
    )
    return queryset.annotate(on_sale_id=Subquery(active[:1]))


def copy_terms_of(version: PlanVersion | None) -> dict:
    """A new version's starting terms: the previous version's, price included."""
    if version is None:
        return {}
    return {
        "price_cents": major_text(version.price_cents, version.currency),
        "currency": version.currency,
        "interval": version.interval,
        "included_quotas": dict(version.included_quotas),
        "trial_days": version.trial_days,
        "trial_end_behavior": version.trial_end_behavior,
    }


class PlanVersionForm(MajorUnitsPriceForm):
    class Meta:
        model = PlanVersion
        fields = "__all__"


class AddonForm(MajorUnitsPriceForm):
    class Meta:
        model = Addon
        fields = "__all__"


@admin.display(description="price")
def price(obj) -> str:
    return money_or_dash(obj.price_cents, obj.currency)


class PlanVersionInline(admin.TabularInline):
    """Versions at a glance; each is edited (while a draft) on its own page."""

    model = PlanVersion
    fields = ["version", "status", "price", "interval", "included_quotas"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    ordering = ["-version"]

    @admin.display(description="status")
    def status(self, obj: PlanVersion) -> str:
        return version_status(obj)

    price = staticmethod(price)

    def get_queryset(self, request):
        # each row prints as "<plan code> v<n>": the plan joined, not one query a row
        return with_on_sale(super().get_queryset(request).select_related("plan"))

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Plan)
class PlanAdmin(SafeAdminMixin, admin.ModelAdmin):
    list_display = ["code", "name", "versions_on_sale", "created_at"]
    search_fields = ["code", "name"]
    fields = ["code", "name", "description", "new_version", "created_at"]
    inlines = [PlanVersionInline]

    def get_readonly_fields(self, request, obj=None):
        # the code is how API clients name a plan: fixed once created
        return ["code", "new_version", "created_at"] if obj else ["new_version", "created_at"]

    @admin.display(description="new version")
    def new_version(self, obj: Plan) -> str:
        if obj is None or obj.pk is None:
            return "Save the plan first."
        url = reverse("admin:catalog_planversion_add") + f"?plan={obj.pk}"
        return format_html(
            '<a class="addlink" id="new-version-link" href="{}">Add a version</a> '
            "(starts as a copy of the newest version's terms and quotas)",
            url,
        )

    def get_queryset(self, request):
        # The count comes annotated: no query per plan on the changelist.
        return selectors.plans_with_versions_on_sale()

    @admin.display(description="versions on sale", ordering="versions_on_sale")
    def versions_on_sale(self, obj: Plan) -> int:
        return obj.versions_on_sale

    def save_model(self, request, obj, form, change):
        if change:
            services.update_plan(plan=obj, name=obj.name, description=obj.description)
            return
        created = services.create_plan(code=obj.code, name=obj.name, description=obj.description)
        obj.pk = created.pk
        obj._state.adding = False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class VersionStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("draft", "draft"), ("published", "on sale"), ("retired", "retired")]

    def queryset(self, request, queryset):
        if self.value() == "draft":
            return queryset.filter(published_at__isnull=True)
        if self.value() == "published":
            return queryset.filter(selectors.LIVE)
        if self.value() == "retired":
            return queryset.filter(retired_at__isnull=False)
        return queryset


@admin.register(PlanVersion)
class PlanVersionAdmin(SafeAdminMixin, admin.ModelAdmin):
    form = PlanVersionForm
    list_display = ["__str__", "status", "price", "published_at", "retired_at"]
    list_filter = [VersionStatusFilter, "plan"]
    list_select_related = ["plan"]
    search_fields = ["plan__code"]
    ordering = ["plan__code", "-version"]
    actions = ["publish", "retire"]

    def get_queryset(self, request):
        return with_on_sale(super().get_queryset(request))

    def has_change_permission(self, request, obj=None) -> bool:
        # A published version's terms never change: its page is a view, with
        # no Save buttons (publish and retire are changelist actions).
        if obj is not None and obj.is_published:
            return False
        return super().has_change_permission(request, obj)

    def get_changeform_initial_data(self, request):
        """A new version starts as a copy of its plan's newest version (terms,
        quotas and price), so nothing is lost by leaving a field as it is."""
        initial = super().get_changeform_initial_data(request)
        plan_id = initial.get("plan")
        if plan_id and str(plan_id).isdigit():
            initial.update(copy_terms_of(selectors.newest_version(int(plan_id))))
        return initial

    @admin.display(description="status")
    def status(self, obj: PlanVersion) -> str:
        return version_status(obj)

    price = staticmethod(price)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["plan", *PlanVersion.TERMS]
        if obj.is_published:
            # frozen: the price shown formatted, in place of the input
            return [("price" if f == "price_cents" else f) for f in VERSION_FIELDS]
        return VERSION_FIELDS

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.is_published:
            # frozen: a price change is a new version ("price_cents" listed so
            # the form drops its input)
            return [*self.get_fields(request, obj), "price_cents"]
        return ["plan", "version", "published_at", "retired_at", "created_at"]

    def has_delete_permission(self, request, obj=None) -> bool:
        # drafts only; a published version may be bound to subscribers
        if obj is not None and obj.is_published:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        # one draft at a time, from its page, through the service
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request, obj):
        services.delete_draft_version(plan_version=obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The form validated a draft; if it was published meanwhile, the service
        # refuses (its transaction rolled back whole): say so instead of a 500.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            messages.error(request, f"Not saved: {exc}.")
            return HttpResponseRedirect(request.path)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            messages.error(request, f"Not deleted: {exc}.")
            return HttpResponseRedirect(request.path)

    def save_model(self, request, obj, form, change):
        if not change:
            created = services.create_plan_version(
                plan=obj.plan,
                price_cents=obj.price_cents,
                currency=obj.currency,
                interval=obj.interval,
                included_quotas=obj.included_quotas,
                trial_days=obj.trial_days,
                trial_end_behavior=obj.trial_end_behavior,
            )
            obj.pk, obj.version, obj.created_at = created.pk, created.version, created.created_at
            obj._state.adding = False
            return
        terms = {name: getattr(obj, name) for name in form.changed_data if name in obj.TERMS}
        if terms:
            services.update_draft_version(plan_version=obj, **terms)

    @admin.action(description="Publish (freezes the terms)…", permissions=["change"])
    def publish(self, request, queryset):
        """First a confirmation page (what goes on sale, at which price and
        quotas, and which version it supersedes for new subscribers); then the
        service, one version at a time."""
        if "confirm" in request.POST:
            self._apply(request, queryset, services.publish_plan_version, "published")
            return None
        versions = list(with_on_sale(queryset.select_related("plan")).order_by("plan__code", "pk"))
        # the versions they supersede, in one query (not one per selected version)
        superseded = selectors.versions_by_id(
            v.on_sale_id for v in versions if v.on_sale_id and v.on_sale_id != v.pk
        )
        rows = []
        for version in versions:
            on_sale = None
            if version.on_sale_id and version.on_sale_id != version.pk:
                on_sale = superseded.get(version.on_sale_id)
            rows.append(
                {
                    "version": version,
                    "price": money_or_dash(version.price_cents, version.currency),
                    "quotas": version.included_quotas,
                    "already": version.is_published,
                    "supersedes": on_sale,
                }
            )
        return TemplateResponse(
            request,
            "admin/catalog/planversion/publish_confirm.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "Publish plan versions?",
                "rows": rows,
                "action": "publish",
                "verb": "publish",
                "count": sum(1 for row in rows if not row["already"]),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "media": self.media,
            },
        )

    @admin.action(description="Retire (no new subscribers)…", permissions=["change"])
    def retire(self, request, queryset):
        """First a confirmation page (each version, its subscribers, who keep
        it, and what happens to it); then the service, one version at a time."""
        if "confirm" in request.POST:
            self._apply(request, queryset, services.retire_plan_version, "retired")
            return None
        versions = list(queryset.select_related("plan").order_by("plan__code", "pk"))
        subscribers = subscriber_counts([v.pk for v in versions])
        rows = [
            {
                "version": version,
                "price": money_or_dash(version.price_cents, version.currency),
                "subscribers": subscribers.get(version.pk, 0),
                "already": version.is_retired,
                "draft": not version.is_published,
            }
            for version in versions
        ]
        return TemplateResponse(
            request,
            "admin/catalog/planversion/retire_confirm.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "Retire plan versions?",
                "rows": rows,
                "action": "retire",
                "verb": "retire",
                "count": sum(1 for row in rows if not row["already"] and not row["draft"]),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "media": self.media,
            },
        )

    def _apply(self, request, queryset, service, verb: str) -> None:
        done = 0
        for version in queryset.select_related("plan").order_by("pk"):
            try:
                service(plan_version=version)
                done += 1
            except (DomainError, ValidationError) as exc:
                self.message_user(request, f"{version}: {exc}", messages.WARNING)
        if done:
            self.message_user(
                request, f"{done} version{'s' if done != 1 else ''} {verb}.", messages.SUCCESS
            )


@admin.register(Addon)
class AddonAdmin(SafeAdminMixin, admin.ModelAdmin):
    form = AddonForm
    list_display = ["code", "name", "resource_kind", "qty", "price", "active"]
    list_filter = ["active", "resource_kind", "currency"]
    search_fields = ["code", "name", "resource_kind"]
    price = staticmethod(price)

    def get_readonly_fields(self, request, obj=None):
        return ["code", "created_at", "updated_at"] if obj else []

    def get_fields(self, request, obj=None):
        fields = ["code", "name", "resource_kind", "qty", "price_cents", "currency", "active"]
        return [*fields, "created_at", "updated_at"] if obj else fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and "price_cents" in form.base_fields:
            form.base_fields["price_cents"].help_text = (
                "In the currency's major unit (59.00 USD, 1500 JPY). Applies to future "
                "attaches only: subscribers keep the price they bought."
            )
        return form

    def save_model(self, request, obj, form, change):
        if not change:
            created = services.create_addon(
                code=obj.code,
                name=obj.name,
                resource_kind=obj.resource_kind,
                qty=obj.qty,
                price_cents=obj.price_cents,
                currency=obj.currency,
                active=obj.active,
            )
            obj.pk = created.pk
            obj._state.adding = False
            return
        changes = {name: getattr(obj, name) for name in form.changed_data}
        if changes:
            services.update_addon(addon=obj, **changes)

    def has_delete_permission(self, request, obj=None) -> bool:
        # subscribers' snapshots point at the add-on: deactivate it instead
        return False
