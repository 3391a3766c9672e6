"""Template filters for the operator console."""

from django import template

from console.charts import format_money, state_badge, state_colour

register = template.Library()


@register.filter(name="state_badge")
def state_badge_filter(state):
    return state_badge(state) if state else "—"


@register.filter(name="state_colour")
def state_colour_filter(state):
    return state_colour(state or "")


@register.filter(name="money")
def money_filter(cents, currency):
    return format_money(int(cents or 0), currency)
