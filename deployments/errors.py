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
