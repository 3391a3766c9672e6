from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.utils import timezone

from arcadia_cloud.models import ApiToken, Tenant, User
from arcadia_cloud.services import issue_token, revoke_token
from console.safety import SafeAdminMixin
from console.tenant_hub import tenant_hub


@admin.register(Tenant)
class TenantAdmin(SafeAdminMixin, admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name", "id"]
    readonly_fields = ["id", "created_at"]
    # The tenant page is a hub: its deployments by state, subscriptions,
    # revenue, identities and recent events (console.tenant_hub).
    change_form_template = "admin/arcadia_cloud/tenant/change_form.html"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["hub"] = tenant_hub(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)


@admin.register(User)
class UserAdmin(SafeAdminMixin, BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "tenant", "roles", "is_staff", "is_active", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "tenant"]
    search_fields = ["email", "name", "tenant__slug"]
    list_select_related = ["tenant"]
    autocomplete_fields = ["tenant"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "tenant", "roles")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "tenant", "roles", "password1", "password2"),
            },
        ),
    )


@admin.register(ApiToken)
class ApiTokenAdmin(SafeAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "user",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__email"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    actions = ["revoke"]
    fields = ["user", "name", "expires_at", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        # A token is never edited after issue: only revoked.
        if obj is not None:
            return ["user", "name", "expires_at", *self.readonly_fields]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        expires_days = None
        if obj.expires_at:
            delta = obj.expires_at - timezone.now()
            expires_days = max(1, delta.days + (1 if delta.seconds else 0))
        issued = issue_token(user=obj.user, name=obj.name, expires_days=expires_days)
        obj.pk = issued.token.pk
        obj.__dict__.update(issued.token.__dict__)
        messages.warning(
            request,
            f"New token (shown only once, copy it now): {issued.raw}",
        )

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        count = 0
        for token in queryset:
            revoke_token(token=token)
            count += 1
        self.message_user(request, f"Revoked {count} token(s).")

    def has_delete_permission(self, request, obj=None):
        return False


# Django's own group admin, with the same refusal of crafted values as ours.
admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(SafeAdminMixin, BaseGroupAdmin):
    pass
