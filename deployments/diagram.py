"""The lifecycle diagram, generated from the one transitions map, never drawn by hand.

`mermaid()` and `markdown_table()` render `deployments.transitions.TRANSITIONS`
for the README (between markers; a test fails when they drift), `svg()` draws
the same map for the operator console and docs/transitions.svg (a test compares
the committed file with a fresh rendering). Nothing here knows a state or a move.
"""

from __future__ import annotations

import itertools
import math
from functools import cache
from xml.sax.saxutils import escape

from arcadia_cloud.actors import ACTOR_KINDS
from deployments.models import Deployment
from deployments.transitions import STATES, TERMINAL_STATES, TRANSITIONS

ROLE_ORDER = ACTOR_KINDS

#: One colour per state, shared by the badges, the charts and the diagram.
STATE_COLOURS: dict[str, str] = {
    "trial": "#6f42c1",
    "active": "#1e8e3e",
    "past_due": "#e37400",
    "paused": "#1a73e8",
    "suspended": "#d93025",
    "cancelled": "#80868b",
    "archived": "#3c4043",
}
DEFAULT_COLOUR = "#5f6368"


def state_colour(state: str) -> str:
    return STATE_COLOURS.get(state, DEFAULT_COLOUR)


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


# -- SVG layout ----------------------------------------------------------------
# States sit on a circle. On a circle no straight chord between two states passes
# through a third, so every arrow stays clear of the boxes; each arrow bows a
# little to the right of its direction, so a move and its reverse (active ->
# paused, paused -> active) are drawn as two separate curves. The order around
# the circle is the one with the fewest crossing moves, then the shortest
# moves, then the closest to map order: computed, so a new state or move finds
# its place without anyone drawing it.

_WIDTH, _HEIGHT = 720, 590
_CX, _CY, _RADIUS = 360, 300, 235
_BOX_W, _BOX_H = 112, 36
_BOW = 0.12  # a one-way move bows towards the centre, clear of the other boxes
_PAIR_BOW = 0.08  # a move and its reverse bow to either side of their chord
_LABEL_AT = 0.42  # labels sit a little before the middle, so a pair's do not touch
_ROLE_LETTERS = {kind: kind[0].upper() for kind in ACTOR_KINDS}


def _fmt(value: float) -> str:
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


@cache
def _circle_order() -> tuple[str, ...]:
    n = len(STATES)
    links = sorted({tuple(sorted(key, key=STATES.index)) for key in TRANSITIONS})

    def cost(order: tuple[str, ...]):
        at = {state: i for i, state in enumerate(order)}
        chords = [tuple(sorted((at[a], at[b]))) for a, b in links]
        crossings = sum(
            1
            for (a, b), (c, d) in itertools.combinations(chords, 2)
            if a < c < b < d or c < a < d < b
        )
        spread = sum(min(b - a, n - (b - a)) ** 2 for a, b in chords)
        return crossings, spread, [STATES.index(s) for s in order]

    # The first state stays at the top; only the others are permuted (7 states:
    # 720 orders, a few milliseconds).
    first, rest = STATES[0], STATES[1:]
    return min(((first, *perm) for perm in itertools.permutations(rest)), key=cost)


def _positions(states: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    step = 2 * math.pi / len(states)
    return {
        state: (
            _CX + _RADIUS * math.cos(-math.pi / 2 + i * step),
            _CY + _RADIUS * math.sin(-math.pi / 2 + i * step),
        )
        for i, state in enumerate(states)
    }


def _inside(point: tuple[float, float], centre: tuple[float, float], margin: float = 4) -> bool:
    return (
        abs(point[0] - centre[0]) <= _BOX_W / 2 + margin
        and abs(point[1] - centre[1]) <= _BOX_H / 2 + margin
    )


def _quad(p0, p1, p2, t: float) -> tuple[float, float]:
    u = 1 - t
    return (
        u * u * p0[0] + 2 * u * t * p1[0] + t * t * p2[0],
        u * u * p0[1] + 2 * u * t * p1[1] + t * t * p2[1],
    )


def _leave(p0, p1, p2, box, lo: float, hi: float, *, leaving: bool) -> float:
    """Bisect for the parameter where the curve crosses the edge of `box`."""
    for _ in range(40):
        mid = (lo + hi) / 2
        if _inside(_quad(p0, p1, p2, mid), box) == leaving:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _edge(source: tuple[float, float], target: tuple[float, float], *, paired: bool):
    """Control points of the arrow from `source` to `target`, clipped to the boxes:
    (start, control, end, label point)."""
    dx, dy = target[0] - source[0], target[1] - source[1]
    length = math.hypot(dx, dy)
    nx, ny = -dy / length, dx / length
    mid = ((source[0] + target[0]) / 2, (source[1] + target[1]) / 2)
    if paired:
        bow = _PAIR_BOW
    else:
        towards_centre = (_CX - mid[0]) * nx + (_CY - mid[1]) * ny
        bow = _BOW if towards_centre >= 0 else -_BOW
    control = (mid[0] + nx * bow * length, mid[1] + ny * bow * length)
    a = _leave(source, control, target, source, 0.0, 0.5, leaving=True)
    b = _leave(source, control, target, target, 0.5, 1.0, leaving=False)
    # The piece of a quadratic Bezier between a and b is itself quadratic; its
    # control point is the curve's blossom at (a, b).
    sub_control = (
        (1 - a) * (1 - b) * source[0]
        + ((1 - a) * b + a * (1 - b)) * control[0]
        + a * b * target[0],
        (1 - a) * (1 - b) * source[1]
        + ((1 - a) * b + a * (1 - b)) * control[1]
        + a * b * target[1],
    )
    start = _quad(source, control, target, a)
    end = _quad(source, control, target, b)
    label = _quad(source, control, target, _LABEL_AT)
    return start, sub_control, end, label


def _roles(kinds) -> str:
    return " ".join(_ROLE_LETTERS[k] for k in ROLE_ORDER if k in kinds)


def svg() -> str:
    """The transitions map as a standalone SVG document (deterministic output)."""
    positions = _positions(_circle_order())
    rules = sorted(
        TRANSITIONS.values(),
        key=lambda r: (STATES.index(r.from_state), STATES.index(r.to_state)),
    )
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" class="state-diagram" role="img" '
        f'width="{_WIDTH}" height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        'font-family="Helvetica, Arial, sans-serif">',
        "<title>Deployment lifecycle: states and the moves each role may make</title>",
        "<defs>",
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#5f6368"/></marker>',
        "</defs>",
        f'<rect width="{_WIDTH}" height="{_HEIGHT}" fill="#ffffff"/>',
        '<g class="moves" fill="none" stroke="#5f6368" stroke-width="1.4">',
    ]
    labels = []
    for rule in rules:
        start, control, end, label = _edge(
            positions[rule.from_state],
            positions[rule.to_state],
            paired=(rule.to_state, rule.from_state) in TRANSITIONS,
        )
        out.append(
            f'<path d="M {_fmt(start[0])} {_fmt(start[1])} Q {_fmt(control[0])} '
            f'{_fmt(control[1])} {_fmt(end[0])} {_fmt(end[1])}" marker-end="url(#arrow)">'
            f"<title>{escape(rule.from_state)} → {escape(rule.to_state)}: "
            f"{escape(', '.join(k for k in ROLE_ORDER if k in rule.kinds))}</title></path>"
        )
        text = _roles(rule.kinds)
        width = 8 + 9 * len(text.replace(" ", "")) + 3 * text.count(" ")
        labels.append(
            f'<rect x="{_fmt(label[0] - width / 2)}" y="{_fmt(label[1] - 8)}" '
            f'width="{width}" height="16" rx="4" fill="#ffffff" stroke="#dadce0"/>'
            f'<text x="{_fmt(label[0])}" y="{_fmt(label[1] + 4)}" font-size="11" '
            f'text-anchor="middle" fill="#202124">{escape(text)}</text>'
        )
    out.append("</g>")
    out.append('<g class="roles">')
    out.extend(labels)
    out.append("</g>")
    out.append('<g class="states">')
    for state in STATES:
        x, y = positions[state]
        out.append(
            f'<g class="state" id="state-{escape(state)}">'
            f'<rect x="{_fmt(x - _BOX_W / 2)}" y="{_fmt(y - _BOX_H / 2)}" width="{_BOX_W}" '
            f'height="{_BOX_H}" rx="8" fill="{state_colour(state)}"/>'
            f'<text x="{_fmt(x)}" y="{_fmt(y + 5)}" font-size="14" font-weight="bold" '
            f'text-anchor="middle" fill="#ffffff">{escape(state)}</text></g>'
        )
    out.append("</g>")
    legend_y = _HEIGHT - 16
    out.append(
        f'<text x="{_CX}" y="{legend_y}" font-size="13" text-anchor="middle" fill="#3c4043">'
        "Who may make each move: T = tenant · O = operator · S = system (batch)</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"
