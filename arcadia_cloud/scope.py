"""Tenant scope: the one rule that decides which tenants' objects an actor sees.

Every service and selector that takes an actor narrows its rows with
`scope_for(actor)`; nothing passes a scope around, so no caller can forget it.
An object outside the scope is simply absent, and the API answers 404 exactly
as for an id that does not exist (SPEC §3: no existence oracle).

- an operator (platform admin or staff) and a system command see every tenant;
- a controller sees every tenant too: it reads deployments and resources of
  all of them (what it may *do* is decided elsewhere: the API lets it read
  and report resource status only, the transitions map never lists it, and
  the resource services refuse it every write but a status report);
- a tenant identity sees its own tenant, and nothing if it has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.db.models import QuerySet

from arcadia_cloud.actors import CONTROLLER, OPERATOR, SYSTEM, TENANT, Actor

#: Actor kinds that see every tenant.
PLATFORM_WIDE = frozenset({OPERATOR, SYSTEM, CONTROLLER})


@dataclass(frozen=True)
class Scope:
    """`tenant_id` None with `everything` set: every tenant; `tenant_id` set: that
    tenant only; neither: nothing at all."""

    tenant_id: UUID | None = None
    everything: bool = False

    def filter(self, queryset: QuerySet, *, tenant_field: str = "tenant") -> QuerySet:
        """`queryset` narrowed to this scope; `tenant_field` is the path from the
        queryset's model to its tenant (e.g. `deployment__tenant`)."""
        if self.everything:
            return queryset
        if self.tenant_id is None:
            return queryset.none()
        return queryset.filter(**{f"{tenant_field}_id": self.tenant_id})

    @property
    def nothing(self) -> bool:
        """No tenant at all: every read answers nothing, without asking."""
        return not self.everything and self.tenant_id is None

    def sql(self, column: str, placeholder: str = "%s") -> tuple[str, list]:
        """This scope as a SQL condition over `column` (a row's tenant id),
        for the fixed statements that read without a queryset, and the values
        of its placeholder (none, or the tenant's id): TRUE for every tenant,
        FALSE for none, `column = <placeholder>` for one."""
        if self.everything:
            return "TRUE", []
        if self.tenant_id is None:
            return "FALSE", []
        return f"{column} = {placeholder}", [self.tenant_id]

    def sees_tenant(self, tenant_id: UUID | None) -> bool:
        return self.everything or (self.tenant_id is not None and self.tenant_id == tenant_id)


def scope_for(actor: Actor | None) -> Scope:
    if actor is None:
        return Scope()
    if actor.kind in PLATFORM_WIDE:
        return Scope(everything=True)
    if actor.kind == TENANT and actor.tenant_id is not None:
        return Scope(tenant_id=actor.tenant_id)
    return Scope()
