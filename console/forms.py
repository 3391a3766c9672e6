"""Forms of the operator console: each asks for what a service needs (a
reason, a target) and nothing more; the views call the service."""

from __future__ import annotations

from django import forms

from catalog.models import Plan
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


class PlanChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Plan) -> str:
        return f"{obj.code} ({obj.name})"


class ChangePlanForm(forms.Form):
    plan = PlanChoiceField(
        queryset=Plan.objects.filter(versions__in=live_versions()).distinct().order_by("code"),
        to_field_name="code",
    )
    version = forms.IntegerField(
        min_value=1, required=False, help_text="Leave empty for the plan's active version."
    )
