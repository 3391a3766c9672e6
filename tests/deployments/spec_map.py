"""The transitions map as SPEC §2 writes it, typed in by hand.

Tests compare the code against this table, never against the code's own map
(`deployments.transitions.TRANSITIONS`): a test that reads its expectations
from the code under test cannot fail.
"""

from __future__ import annotations

STATES = ["trial", "active", "past_due", "paused", "suspended", "cancelled", "archived"]
UNKNOWN_STATE = "flying"
TARGETS = [*STATES, UNKNOWN_STATE]
ROLES = ["tenant", "operator", "system"]

TEN, OPS, SYS = "tenant", "operator", "system"

# SPEC §2 "The transitions map": (from, to) -> who may.
SPEC_MAP: dict[tuple[str, str], frozenset[str]] = {
    ("trial", "active"): frozenset({OPS, SYS}),
    ("trial", "past_due"): frozenset({OPS, SYS}),
    ("trial", "paused"): frozenset({OPS}),
    ("trial", "cancelled"): frozenset({TEN, OPS, SYS}),
    ("active", "past_due"): frozenset({OPS, SYS}),
    ("active", "suspended"): frozenset({OPS, SYS}),
    ("active", "paused"): frozenset({TEN, OPS}),
    ("active", "cancelled"): frozenset({TEN, OPS}),
    ("past_due", "active"): frozenset({OPS, SYS}),
    ("past_due", "suspended"): frozenset({OPS, SYS}),
    ("past_due", "cancelled"): frozenset({TEN, OPS}),
    ("paused", "active"): frozenset({TEN, OPS}),
    ("paused", "cancelled"): frozenset({TEN, OPS}),
    ("suspended", "active"): frozenset({OPS}),
    ("suspended", "cancelled"): frozenset({TEN, OPS}),
    ("cancelled", "archived"): frozenset({OPS, SYS}),
    # archived: terminal, nothing leaves it.
}

ALLOWED, INVALID, FORBIDDEN = "allowed", "invalid", "forbidden"


def expected_outcome(from_state: str, to_state: str, role: str) -> str:
    """Anything not in the map (same state, unknown state, terminal) is invalid;
    a move in the map by someone not listed is forbidden."""
    who = SPEC_MAP.get((from_state, to_state))
    if who is None:
        return INVALID
    return ALLOWED if role in who else FORBIDDEN


def moves_for(from_state: str, role: str) -> set[str]:
    """The states `role` may move a deployment in `from_state` to, per SPEC."""
    return {to for (src, to), who in SPEC_MAP.items() if src == from_state and role in who}


ALL_CELLS = [(f, t) for f in STATES for t in TARGETS]
