"""The services' refusals in words an operator reads: one place maps each
error code (and its data) to a sentence, so no page shows a raw code."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from arcadia_cloud.errors import DomainError
from console.forms import state_label


def _states(exc) -> tuple[str, str]:
    return state_label(getattr(exc, "from_state", "")), state_label(getattr(exc, "to_state", ""))


def human_error(exc: Exception) -> str:
    """One sentence for `exc` (a DomainError or a ValidationError)."""
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    code = getattr(exc, "code", "")
    if code == "invalid_transition":
        old, new = _states(exc)
        return f"{old} → {new} is not a move the lifecycle allows"
    if code == "forbidden" and hasattr(exc, "from_state"):
        old, new = _states(exc)
        if getattr(exc, "reason", "") == "overridden":
            return f"{old} → {new}: automated billing actions are suspended for this deployment"
        return f"{old} → {new} is not a move your role may make"
    if code == "state_conflict":
        return (
            f"Someone moved it meanwhile: expected {state_label(exc.expected)}, "
            f"it is now {state_label(exc.actual)}"
        )
    if code == "plan_version_unchanged":
        return "The deployment is already on this version"
    if code == "currency_mismatch":
        return (
            f"The subscription bills in {exc.expected}; a plan priced in {exc.actual} "
            "cannot replace its plan (a subscription keeps one currency for its whole life)"
        )
    if code == "quota_exceeded":
        return (
            f"Not enough {exc.resource_kind.replace('_', ' ')}: {exc.used} in use, "
            f"but the new plan allows {exc.limit}. Free some first, or add an add-on"
        )
    if code == "subscription_cancelled":
        return "The subscription is cancelled: it takes no plan change"
    if code == "subscription_not_found":
        return "The deployment has no subscription"
    if code == "plan_or_version_not_found":
        return "That plan version is not on sale (it may have been retired meanwhile)"
    if code == "deployment_not_subscribable":
        return f"A {state_label(exc.state)} deployment cannot take a subscription"
    if code == "not_found":
        return "It no longer exists, or is outside what you may see"
    if code == "forbidden":
        return "Your role may not do this"
    if isinstance(exc, DomainError):
        return str(exc) or code
    return str(exc)
