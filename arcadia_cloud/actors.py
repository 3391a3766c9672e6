"""Who is acting: the one value every write service receives to check rights, to
scope what it may see (`arcadia_cloud.scope.scope_for`) and to record in the
audit trail.

The actor kinds are defined here, once: the columns of the transitions map
(SPEC §2; `deployments.models` reads them from here), and `controller`, which
is in no column of the map (a provisioning controller moves nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID, uuid4

#: An identity of the object's own tenant.
TENANT = "tenant"
#: A platform admin (API) or a permitted staff user (admin).
OPERATOR = "operator"
#: A management command (batch, the billing clock).
SYSTEM = "system"
#: A provisioning controller (SPEC §8): reads every tenant's deployments and
#: resources and reports resource status, nothing else. Never a column of the
#: transitions map; the API refuses it every other route
#: (`arcadia_cloud.api.permissions.ControllerMay`).
CONTROLLER = "controller"

ActorKind = Literal["tenant", "operator", "system", "controller"]
#: The columns of the transitions map, in its order.
ACTOR_KINDS: tuple[str, ...] = (TENANT, OPERATOR, SYSTEM)


@dataclass(frozen=True)
class Actor:
    """`kind` is the column of the transitions map this caller stands in; `label`
    is what the audit trail records.

    `include_overridden` is for `system` actors only: an operator ran the batch
    with `--include-overridden`, so deployments whose automated billing actions
    are suspended may be moved too (the map's permission reads it).
    """

    kind: ActorKind
    label: str
    identity_id: int | None = None
    tenant_id: UUID | None = None
    request_id: str = ""
    include_overridden: bool = False

    # -- building an actor: one way per entry point --------------------------------

    @classmethod
    def for_identity(cls, identity, *, request_id: str = "") -> Actor:
        """An API caller: platform admins act as operators, controllers as
        controllers, everyone else as their tenant."""
        kind: ActorKind = TENANT
        if identity.is_platform_admin:
            kind = OPERATOR
        elif identity.is_controller:
            kind = CONTROLLER
        return cls(
            kind=kind,
            label=identity.email,
            identity_id=identity.pk,
            tenant_id=identity.tenant_id,
            request_id=request_id,
        )

    @classmethod
    def for_staff(cls, identity, *, request_id: str = "") -> Actor:
        """A staff user in the admin, acting as an operator. The admin checks the
        user's permission for each action before it calls a service."""
        return cls(
            kind=OPERATOR,
            label=identity.email,
            identity_id=identity.pk,
            tenant_id=identity.tenant_id,
            request_id=request_id,
        )

    @classmethod
    def system(cls, name: str, *, request_id: str = "", include_overridden: bool = False) -> Actor:
        """A management command; `name` is `system:<command>` or the `--actor` given.

        Every event the run writes carries the same run id (generated unless
        given), as API events carry their request id: "which run did this?"
        has an answer in the audit trail."""
        return cls(
            kind=SYSTEM,
            label=name,
            request_id=request_id or f"run-{uuid4().hex}",
            include_overridden=include_overridden,
        )

    @classmethod
    def from_api_request(cls, request) -> Actor:
        """The authenticated API caller of `request` (built once per request)."""
        actor = getattr(request, "_arcadia_actor", None)
        if actor is None or actor.identity_id != request.user.pk:
            actor = cls.for_identity(request.user, request_id=getattr(request, "request_id", ""))
            request._arcadia_actor = actor
        return actor

    @classmethod
    def from_admin_request(cls, request) -> Actor:
        """The staff user of an admin `request`, as an operator."""
        return cls.for_staff(request.user, request_id=getattr(request, "request_id", ""))
