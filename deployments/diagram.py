"""The lifecycle diagram, generated from the transitions map, never drawn by hand.

`mermaid()` renders `deployments.transitions.TRANSITIONS` as a Mermaid
`stateDiagram-v2` (edge labels: who may make the move); `markdown_table()`
renders the same map as the who-may table. The README embeds both between
markers and a test fails when they drift from the map
(`manage.py transitions_diagram` prints them).
"""

from __future__ import annotations

from deployments.models import OPERATOR, SYSTEM, TENANT, Deployment
from deployments.transitions import STATES, TERMINAL_STATES, TRANSITIONS

ROLE_ORDER = (TENANT, OPERATOR, SYSTEM)


def who_may(kinds) -> str:
    """The roles in `kinds`, in map order (tenant, operator, system)."""
    return ", ".join(kind for kind in ROLE_ORDER if kind in kinds)


def _ordered_rules():
    return sorted(
        TRANSITIONS.values(),
        key=lambda rule: (STATES.index(rule.from_state), STATES.index(rule.to_state)),
    )


def mermaid() -> str:
    """A Mermaid `stateDiagram-v2` of the lifecycle: `[*]` into the state a new
    deployment starts in, one edge per move labelled with who may make it, and
    each terminal state out to `[*]`."""
    initial = Deployment._meta.get_field("state").default
    lines = ["stateDiagram-v2", f"    [*] --> {initial}"]
    for rule in _ordered_rules():
        lines.append(f"    {rule.from_state} --> {rule.to_state}: {who_may(rule.kinds)}")
    for state in STATES:
        if state in TERMINAL_STATES:
            lines.append(f"    {state} --> [*]")
    return "\n".join(lines) + "\n"


def markdown_table() -> str:
    """The who-may table: one row per source state and set of roles, targets
    grouped in map order; terminal states get a row of their own."""
    rows: list[tuple[str, list[str], str]] = []
    for rule in _ordered_rules():
        who = who_may(rule.kinds)
        for row in rows:
            if row[0] == rule.from_state and row[2] == who:
                row[1].append(rule.to_state)
                break
        else:
            rows.append((rule.from_state, [rule.to_state], who))
    lines = ["| from | to | who may |", "|---|---|---|"]
    for state in STATES:
        for from_state, targets, who in rows:
            if from_state == state:
                lines.append(f"| {from_state} | {', '.join(targets)} | {who} |")
        if state in TERMINAL_STATES:
            lines.append(f"| {state} | — (terminal) | |")
    return "\n".join(lines) + "\n"
