"""Tenant scoping: the one filter that decides what an identity may see.

Every selector that returns tenant-owned rows passes through `scope_to`, so a
foreign object is simply absent — the API then answers 404, exactly as for an
id that does not exist."""

from __future__ import annotations

from django.db.models import QuerySet


def scope_to(queryset: QuerySet, identity, *, tenant_field: str = "tenant") -> QuerySet:
    if identity is None:
        return queryset.none()
    if identity.is_platform_admin:
        return queryset
    if identity.tenant_id is None:
        return queryset.none()
    return queryset.filter(**{f"{tenant_field}_id": identity.tenant_id})
