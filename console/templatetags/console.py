"""Template filters for the operator console."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

from arcadia_cloud.money import format_money
from console.charts import state_badge, state_colour
from console.dates import relative, utc_text

register = template.Library()


@register.filter(name="state_badge")
def state_badge_filter(state):
    return state_badge(state) if state else "—"


@register.filter(name="state_colour")
def state_colour_filter(state):
    return state_colour(state or "")


@register.filter(name="money")
def money_filter(minor, currency):
    """Integer minor units of `currency`, in the product's one money format."""
    return format_money(int(minor or 0), currency)


@register.filter(name="when")
def when_filter(value: datetime | None):
    """`2026-12-01 14:03 UTC (3 days ago)`: the console's one way of showing an
    instant, with the exact ISO time on hover."""
    if value is None:
        return "—"
    return format_html(
        '<time datetime="{}" title="{}">{}</time> <span class="console-muted when-relative">'
        "({})</span>",
        value.isoformat(),
        value.isoformat(),
        utc_text(value),
        relative(value, timezone.now()),
    )


@register.filter(name="utc")
def utc_filter(value: datetime | None):
    """`2026-12-01 14:03 UTC` alone (tables where the relative time would crowd)."""
    return "—" if value is None else utc_text(value)
