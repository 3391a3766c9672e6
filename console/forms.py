"""Forms of the operator console: each asks for what a service needs (a
reason, a target) and nothing more; the views call the service."""

from __future__ import annotations

from django import forms

from catalog.selectors import live_versions
from deployments.models import State


def state_label(state: str) -> str:
    return State(state).label if state in State.values else state


class TransitionForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        help_text="Why: recorded on the event and shown on the timeline.",
        widget=forms.TextInput(attrs={"size": 60, "autofocus": True}),
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))
    # The state the operator saw: if someone moved the deployment meanwhile the
    # service refuses (state conflict) instead of applying a stale decision.
    expected_state = forms.CharField(widget=forms.HiddenInput)


class BulkTransitionForm(forms.Form):
    # No target is preselected: the operator picks one, every time.
    to_state = forms.ChoiceField(label="Move to", required=True)
    reason = forms.CharField(
        max_length=500,
        help_text="Why: recorded on every moved deployment's event.",
        widget=forms.TextInput(attrs={"size": 60}),
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))

    def __init__(self, *args, targets: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_state"].choices = [
            ("", "— choose a state —"),
            *[(s, state_label(s)) for s in targets],
        ]


class OverrideForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        help_text="Why: recorded in the override history.",
        widget=forms.TextInput(attrs={"size": 60, "autofocus": True}),
    )
    # The value being set, so a double submit cannot flip the flag back.
    suspended = forms.BooleanField(required=False, widget=forms.HiddenInput)


class PlanVersionChoiceField(forms.ModelChoiceField):
    """A version on sale, with its price: "team v2 — 199.00 USD / month"."""

    current_id: int | None = None

    def label_from_instance(self, obj) -> str:
        from console.money import money_or_dash

        label = (
            f"{obj.plan.code} v{obj.version} — {obj.plan.name} — "
            f"{money_or_dash(obj.price_cents, obj.currency)} / {obj.get_interval_display()}"
        )
        return f"{label} (current)" if obj.pk == self.current_id else label


class PlanChangeForm(forms.Form):
    """A deployment's plan change: which version, when, why."""

    NOW, PERIOD_END = "now", "period_end"

    target = PlanVersionChoiceField(
        label="New plan version",
        queryset=live_versions().select_related("plan").order_by("plan__code", "-version"),
        empty_label="— choose a version on sale —",
    )
    effective = forms.ChoiceField(
        label="Takes effect",
        choices=[
            (NOW, "Now (the current period is pro-rated)"),
            (PERIOD_END, "At the end of the current period"),
        ],
        initial=NOW,
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        max_length=500,
        help_text="Why: recorded with the change and shown on the timeline.",
        widget=forms.TextInput(attrs={"size": 60}),
    )

    def __init__(self, *args, current_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].current_id = current_id
