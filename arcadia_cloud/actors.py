"""Who is acting: the one value every write service receives to check rights and
to record in the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID, uuid4

ActorKind = Literal["tenant", "operator", "system"]


@dataclass(frozen=True)
class Actor:
    """`kind` is the column of the transitions map this caller stands in:
    "tenant" (an identity of the object's tenant), "operator" (platform admin or
    permitted staff) or "system" (a batch command). `label` is what the audit
    trail records."""

    kind: ActorKind
    label: str
    identity_id: int | None = None
    tenant_id: UUID | None = None
    request_id: str = ""

    @classmethod
    def for_identity(cls, identity, *, request_id: str = "") -> Actor:
        """An API caller: platform admins act as operators, everyone else as tenant."""
        kind: ActorKind = "operator" if identity.is_platform_admin else "tenant"
        return cls(
            kind=kind,
            label=identity.email,
            identity_id=identity.pk,
            tenant_id=identity.tenant_id,
            request_id=request_id,
        )

    @classmethod
    def for_operator(cls, identity, *, request_id: str = "") -> Actor:
        """A staff user in the admin whose permission the admin has already checked."""
        return cls(
            kind="operator",
            label=identity.email,
            identity_id=identity.pk,
            tenant_id=identity.tenant_id,
            request_id=request_id,
        )

    @classmethod
    def system(cls, name: str, *, request_id: str = "") -> Actor:
        """A batch command; `name` is `system:<command>` or the `--actor` given.

        Every event the run writes carries the same run id (generated unless
        given), as API events carry their request id: "which run did this?"
        has an answer in the audit trail."""
        return cls(kind="system", label=name, request_id=request_id or f"run-{uuid4().hex}")
