"""Reads of tenants (operators, commands and the admin-only create path)."""

from __future__ import annotations

from uuid import UUID

from arcadia_cloud.models import Tenant


def get_tenant_by_slug(slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


def get_tenant(tenant_id: UUID | str) -> Tenant | None:
    return Tenant.objects.filter(pk=tenant_id).first()
