from __future__ import annotations

from arcadia_cloud.errors import DomainError, NotFound


class InvalidTransition(DomainError):
    category = "invalid"
    code = "invalid_transition"

    def __init__(self, from_state: str, to_state: str):
        super().__init__(f"{from_state} -> {to_state} is not in the transitions map")
        self.from_state = from_state
        self.to_state = to_state

    def body(self) -> dict:
        return {"error": self.code, "from": self.from_state, "to": self.to_state}


class TransitionForbidden(DomainError):
    category = "forbidden"
    code = "forbidden"

    def __init__(self, from_state: str, to_state: str, actor_kind: str, *, reason: str = ""):
        why = " (automated billing actions are suspended)" if reason == "overridden" else ""
        super().__init__(f"{actor_kind} may not move {from_state} -> {to_state}{why}")
        self.from_state = from_state
        self.to_state = to_state
        self.actor_kind = actor_kind
        #: "not_permitted", "overridden" or "not_in_map" (deployments.transitions.Refusal)
        self.reason = reason


class StateConflict(DomainError):
    category = "conflict"
    code = "state_conflict"

    def __init__(self, expected: str, actual: str):
        super().__init__(f"expected {expected}, found {actual}")
        self.expected = expected
        self.actual = actual

    def body(self) -> dict:
        return {"error": self.code, "expected": self.expected, "actual": self.actual}


class DeploymentNotFound(NotFound):
    """Missing, or outside the actor's scope: the same answer (404)."""


class DeploymentNotSubscribable(DomainError):
    """Cancelled and archived deployments cannot take a new subscription."""

    category = "invalid"
    code = "deployment_not_subscribable"

    def __init__(self, state: str):
        super().__init__(f"a {state} deployment cannot be subscribed")
        self.state = state

    def body(self) -> dict:
        return {"error": self.code, "state": self.state}


# -- Resources and entitlements ------------------------------------------------------


class ResourceNotFound(NotFound):
    """Missing, or outside the actor's scope: the same answer (404)."""


class QuotaExceeded(DomainError):
    """What is asked for does not fit the deployment's limit for a kind.

    For a create or a grow: `used` is the qty in use now, `requested` what the
    request adds (refused when used + requested > limit). For a plan change or
    an add-on detach: `limit` is the limit the change would leave, `used` the
    qty in use, `requested` 0.
    """

    category = "invalid"
    code = "quota_exceeded"

    def __init__(self, resource_kind: str, *, limit: int, used: int, requested: int):
        super().__init__(
            f"{resource_kind}: {used} used + {requested} requested exceeds the limit {limit}"
        )
        self.resource_kind = resource_kind
        self.limit = limit
        self.used = used
        self.requested = requested

    def body(self) -> dict:
        return {
            "error": self.code,
            "resource_kind": self.resource_kind,
            "limit": self.limit,
            "used": self.used,
            "requested": self.requested,
        }


class DeploymentNotRunning(DomainError):
    """Only `active` and `trial` deployments create, grow or start resources."""

    category = "invalid"
    code = "deployment_not_running"

    def __init__(self, state: str):
        super().__init__(f"a {state} deployment cannot create, grow or start resources")
        self.state = state

    def body(self) -> dict:
        return {"error": self.code, "state": self.state}


class UnknownResourceKind(DomainError):
    """A kind no plan version's quotas and no add-on of the catalog defines."""

    category = "invalid"
    code = "unknown_resource_kind"

    def __init__(self, resource_kind: str):
        super().__init__(f"no plan or add-on defines the resource kind {resource_kind!r}")
        self.resource_kind = resource_kind

    def body(self) -> dict:
        return {"error": self.code, "resource_kind": self.resource_kind}


class ResourceNameTaken(DomainError):
    """Another resource of the deployment (not deleted) has this name."""

    category = "conflict"
    code = "resource_name_taken"

    def __init__(self, name: str):
        super().__init__(f"the deployment already has a resource named {name!r}")
        self.name = name

    def body(self) -> dict:
        return {"error": self.code, "name": self.name}


class ResourceDeleted(DomainError):
    """A resource whose desired state is `deleted` takes no further change."""

    category = "invalid"
    code = "resource_deleted"


class StaleGeneration(DomainError):
    """A status report for a generation that does not exist yet, or older than
    the last one reported."""

    category = "conflict"
    code = "stale_generation"

    def __init__(self, *, reported: int, generation: int, observed_generation: int):
        super().__init__(
            f"reported generation {reported}; the resource is at {generation}, "
            f"last reported {observed_generation}"
        )
        self.reported = reported
        self.generation = generation
        self.observed_generation = observed_generation

    def body(self) -> dict:
        return {
            "error": self.code,
            "reported": self.reported,
            "generation": self.generation,
            "observed_generation": self.observed_generation,
        }
