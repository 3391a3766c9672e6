from __future__ import annotations

from arcadia_cloud.errors import DomainError


class PlanOrVersionNotFound(DomainError):
    """No such plan, no such version, or the plan has nothing on sale."""

    category = "not_found"
    code = "plan_or_version_not_found"


class PublishedVersionImmutable(DomainError):
    """A published version's terms are fixed: a price change is a new version."""

    category = "conflict"
    code = "plan_version_immutable"

    def __init__(self, plan_version_id: int):
        super().__init__(f"plan version {plan_version_id} is published and immutable")
        self.plan_version_id = plan_version_id

    def body(self) -> dict:
        return {"error": self.code, "plan_version_id": self.plan_version_id}


class VersionStateError(DomainError):
    """Publish/retire called on a version in the wrong state (e.g. retiring a draft)."""

    category = "invalid"
    code = "plan_version_state"

    def __init__(self, plan_version_id: int, detail: str):
        super().__init__(detail)
        self.plan_version_id = plan_version_id
        self.detail = detail

    def body(self) -> dict:
        return {"error": self.code, "plan_version_id": self.plan_version_id, "detail": self.detail}
