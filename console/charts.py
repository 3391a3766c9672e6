"""Server-rendered SVG for the operator console: state colours and bar charts.

No JavaScript and nothing fetched from elsewhere: the console draws its charts
as inline SVG strings, so a page is complete as the server sends it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from django.utils.html import format_html

from arcadia_cloud.money import format_money  # noqa: F401  (the one format, re-exported)
from deployments.diagram import DEFAULT_COLOUR, state_colour
from deployments.models import State


def state_badge(state: str):
    """A state as a coloured pill (HTML, escaped)."""
    label = State(state).label if state in State.values else state
    return format_html(
        '<span class="state-badge" data-state="{}" style="background:{}">{}</span>',
        state,
        state_colour(state),
        label,
    )


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    colour: str = DEFAULT_COLOUR
    #: the list this bar counts (the bar and its label link there)
    href: str = ""


def bar_chart(bars: Sequence[Bar], *, title: str, width: int = 460, row: int = 26) -> str:
    """A horizontal bar chart as an `<svg>` string: one row per bar, the value
    written at the end of the bar, bars scaled to the largest value."""
    label_w, value_w, pad = 110, 48, 8
    track = width - label_w - value_w - 2 * pad
    peak = max((b.value for b in bars), default=0) or 1
    height = max(row * len(bars), row) + pad
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="console-chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    if not bars:
        parts.append(f'<text x="{pad}" y="{row - 8}" font-size="13" fill="#5f6368">No data</text>')
    for i, bar in enumerate(bars):
        if bar.href:
            parts.append(f'<a href="{escape(bar.href, {chr(34): "&quot;"})}" class="chart-link">')
        y = pad // 2 + i * row
        length = round(track * bar.value / peak) if bar.value else 0
        parts.append(
            f'<text x="{label_w - 6}" y="{y + row - 9}" font-size="13" text-anchor="end" '
            f'fill="#202124">{escape(bar.label)}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{track}" height="{row - 8}" '
            f'rx="3" fill="#f1f3f4"/>'
        )
        if length:
            parts.append(
                f'<rect x="{label_w}" y="{y + 3}" width="{length}" height="{row - 8}" '
                f'rx="3" fill="{bar.colour}"><title>{escape(bar.label)}: {bar.value}</title></rect>'
            )
        parts.append(
            f'<text x="{label_w + track + pad}" y="{y + row - 9}" font-size="13" '
            f'font-weight="bold" fill="#202124">{bar.value}</text>'
        )
        if bar.href:
            parts.append("</a>")
    parts.append("</svg>")
    return "".join(parts)
