from __future__ import annotations

from arcadia_cloud.errors import DomainError


class SubscriptionExists(DomainError):
    category = "conflict"
    code = "subscription_exists"


class SubscriptionNotFound(DomainError):
    """The deployment (visible to the caller) has no subscription."""

    category = "not_found"
    code = "subscription_not_found"


class UnknownAddons(DomainError):
    """Add-on codes that are not in the catalog (or not on sale)."""

    category = "invalid"
    code = "unknown_addons"

    def __init__(self, codes):
        self.codes = sorted(set(codes))
        super().__init__(f"unknown add-ons: {', '.join(self.codes)}")

    def body(self) -> dict:
        return {"error": self.code, "codes": self.codes}


class SubscriptionCancelled(DomainError):
    """A cancelled subscription takes no add-ons and no plan changes."""

    category = "invalid"
    code = "subscription_cancelled"


class CurrencyMismatch(DomainError):
    """An add-on priced in another currency than the subscription's plan."""

    category = "invalid"
    code = "currency_mismatch"

    def __init__(self, expected: str, actual: str):
        super().__init__(f"expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual

    def body(self) -> dict:
        return {"error": self.code, "expected": self.expected, "actual": self.actual}


class PlanVersionUnchanged(DomainError):
    category = "invalid"
    code = "plan_version_unchanged"


class AddonAlreadyDetached(DomainError):
    """The add-on line was detached before; a line is detached once."""

    category = "invalid"
    code = "addon_already_detached"

    def __init__(self, line_id: int):
        super().__init__(f"add-on line {line_id} is already detached")
        self.line_id = line_id

    def body(self) -> dict:
        return {"error": self.code, "addon_line_id": self.line_id}


class TrialNotOffered(DomainError):
    """The plan's active version offers no trial (trial_days = 0)."""

    category = "invalid"
    code = "trial_not_offered"

    def __init__(self, plan_code: str):
        super().__init__(f"plan {plan_code} offers no trial")
        self.plan_code = plan_code

    def body(self) -> dict:
        return {"error": self.code, "plan_code": self.plan_code}


class TrialAlreadyUsed(DomainError):
    """The tenant has had a trial of this plan before: one per tenant per plan."""

    category = "invalid"
    code = "trial_already_used"

    def __init__(self, plan_code: str):
        super().__init__(f"the tenant has already had a trial of plan {plan_code}")
        self.plan_code = plan_code

    def body(self) -> dict:
        return {"error": self.code, "plan_code": self.plan_code}


class PlanCodeRequired(DomainError):
    """Add-ons or a trial asked for without a plan to subscribe to."""

    category = "invalid"
    code = "plan_code_required"

    def body(self) -> dict:
        return {"error": self.code, "detail": "addons and trial need a plan_code"}
