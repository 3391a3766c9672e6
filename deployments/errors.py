from __future__ import annotations

from arcadia_cloud.errors import DomainError


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

    def __init__(self, from_state: str, to_state: str, actor_kind: str):
        super().__init__(f"{actor_kind} may not move {from_state} -> {to_state}")
        self.from_state = from_state
        self.to_state = to_state
        self.actor_kind = actor_kind


class StateConflict(DomainError):
    category = "conflict"
    code = "state_conflict"

    def __init__(self, expected: str, actual: str):
        super().__init__(f"expected {expected}, found {actual}")
        self.expected = expected
        self.actual = actual

    def body(self) -> dict:
        return {"error": self.code, "expected": self.expected, "actual": self.actual}


class DeploymentNotFound(DomainError):
    category = "not_found"
    code = "not_found"
