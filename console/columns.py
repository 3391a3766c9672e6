"""Changelist columns of the operator console."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html


@admin.display(description="override", ordering="billing_action_suspended")
def override_column(obj):
    """The billing override in words: "on" stands out (automated billing
    actions skip this deployment), "off" is plain text (the normal case)."""
    if obj.billing_action_suspended:
        return format_html(
            '<span class="override-flag on" title="{}">on</span>',
            "Automated billing actions are suspended for this deployment",
        )
    return format_html('<span class="override-flag off">{}</span>', "off")
