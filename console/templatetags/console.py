"""Template filters for the operator console."""

from django import template

from arcadia_cloud.money import format_money
from console.charts import state_badge, state_colour

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
