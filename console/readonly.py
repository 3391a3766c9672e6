"""Read-only admin pages: the one definition of "nobody adds, changes or
deletes this here", for records that are append-only (audit trails, price
snapshots, plan changes) or that change only through a service's own form."""

from __future__ import annotations

from django.contrib import admin

from console.safety import SafeAdminMixin


class ReadOnlyAdminMixin:
    """For a ModelAdmin or an inline: no add, change or delete for anyone, not
    even a superuser (view permission still decides who may look)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(SafeAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


class ReadOnlyTabularInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields
