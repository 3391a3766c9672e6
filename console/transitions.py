"""Moving deployments from the admin: the state buttons, the reason form, the
billing-override form and the bulk action, as one ModelAdmin mixin.

Thin over the services: a move (one deployment or a selection) is a form
asking for a reason, then `deployments.transitions.transition_state`; the
override is a form, then `deployments.services.set_billing_override`. Nothing
here saves a state or writes an event. Which buttons a staff user sees is what
the transitions map allows an operator from the current state, and only if
the user holds the permission (`deployments.operators`).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from arcadia_cloud.actors import Actor
from arcadia_cloud.errors import DomainError
from console.charts import state_badge, state_colour
from console.forms import BulkTransitionForm, OverrideForm, TransitionForm, state_label
from deployments.errors import InvalidTransition, TransitionForbidden
from deployments.models import Deployment, State
from deployments.operators import OVERRIDE_PERM, TRANSITION_PERM
from deployments.services import set_billing_override
from deployments.transitions import allowed_targets, transition_state

BULK_FAILURES_SHOWN = 10


class TransitionAdminMixin:
    """For the Deployment ModelAdmin: adds the transition and override pages
    (`<id>/transition/<state>/`, `<id>/override/`), the "Transition selected
    deployments…" action and `transition_buttons()` for the change page."""

    actions = ["transition_selected"]

    def has_transition_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.has_perm(TRANSITION_PERM)

    def has_override_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.has_perm(OVERRIDE_PERM)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/transition/<str:to_state>/",
                wrap(self.transition_view),
                name="{}_{}_transition".format(*info),
            ),
            path(
                "<path:object_id>/override/",
                wrap(self.override_view),
                name="{}_{}_override".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_url(self, deployment: Deployment) -> str:
        return reverse("admin:deployments_deployment_change", args=[deployment.pk])

    def transition_buttons(self, request, deployment: Deployment) -> list[dict]:
        """One button per move the map allows an operator from the current state
        (none without the permission)."""
        if not self.has_transition_permission(request, deployment):
            return []
        return [
            {
                "state": target,
                "label": state_label(target),
                "colour": state_colour(target),
                "url": reverse(
                    "admin:deployments_deployment_transition", args=[deployment.pk, target]
                ),
            }
            for target in allowed_targets(deployment, Actor.from_admin_request(request))
        ]

    # -- the bulk action ----------------------------------------------------------

    @admin.action(description="Transition selected deployments…", permissions=["transition"])
    def transition_selected(self, request, queryset: QuerySet[Deployment]):
        selected = list(
            queryset.select_related(None).order_by("pk").only("pk", "slug", "state", "tenant_id")
        )
        actor = Actor.from_admin_request(request)
        targets = sorted(
            {t for d in selected for t in allowed_targets(d, actor)}, key=State.values.index
        )
        form = None
        if "apply" in request.POST:
            form = BulkTransitionForm(request.POST, targets=targets)
            if form.is_valid():
                self._apply_bulk(request, selected, actor, form.cleaned_data)
                return None
        if form is None:
            form = BulkTransitionForm(targets=targets)
        states = sorted({d.state for d in selected}, key=State.values.index)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Transition deployments",
            "form": form,
            "deployments": selected[:20],
            "more": max(0, len(selected) - 20),
            "count": len(selected),
            "states": [state_badge(s) for s in states],
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "selected_ids": [str(d.pk) for d in selected],
            "select_across": request.POST.get("select_across", "0"),
            "media": self.media,
        }
        return TemplateResponse(
            request, "admin/deployments/deployment/bulk_transition.html", context
        )

    def _apply_bulk(self, request, selected: list[Deployment], actor: Actor, data: dict) -> None:
        """One `transition_state` per deployment, each in its own transaction, so
        one failure does not undo the others. The service decides: skipped = the
        map has no operator move from that deployment's state to the target;
        failed = any other refusal (e.g. someone moved it meanwhile)."""
        to_state = data["to_state"]
        moved, skipped, failures = 0, 0, []
        for deployment in selected:
            try:
                transition_state(
                    deployment_id=deployment.pk,
                    to_state=to_state,
                    actor=actor,
                    reason=data["reason"],
                    notes=data["notes"],
                    expected_state=deployment.state,
                )
            except (InvalidTransition, TransitionForbidden):
                skipped += 1
            except DomainError as exc:
                failures.append(f"{deployment.slug}: {exc.code}")
            else:
                moved += 1
        summary = (
            f"→ {state_label(to_state)}: moved {moved}, skipped {skipped}, failed {len(failures)}."
        )
        if failures:
            shown = ", ".join(failures[:BULK_FAILURES_SHOWN])
            extra = len(failures) - BULK_FAILURES_SHOWN
            more = f" (and {extra} more)" if extra > 0 else ""
            self.message_user(request, f"{summary} Failed: {shown}{more}", messages.WARNING)
        else:
            self.message_user(request, summary, messages.SUCCESS)

    # -- the one-deployment pages ---------------------------------------------------

    def _get_or_404(self, request, object_id) -> Deployment:
        deployment = self.get_object(request, object_id)
        if deployment is None:
            raise Http404("No such deployment.")
        return deployment

    def _form_page(self, request, deployment, *, title, form, template, **extra) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": deployment,
            "title": title,
            "form": form,
            "state_badge": state_badge(deployment.state),
            "change_url": self.change_url(deployment),
            **extra,
        }
        return TemplateResponse(request, template, context)

    def transition_view(self, request, object_id, to_state) -> HttpResponse:
        if not self.has_transition_permission(request):
            raise PermissionDenied
        deployment = self._get_or_404(request, object_id)
        actor = Actor.from_admin_request(request)
        change_url = self.change_url(deployment)
        if request.method == "POST":
            form = TransitionForm(request.POST)
            if form.is_valid():
                try:
                    transition_state(
                        deployment_id=deployment.pk,
                        to_state=to_state,
                        actor=actor,
                        reason=form.cleaned_data["reason"],
                        notes=form.cleaned_data["notes"],
                        expected_state=form.cleaned_data["expected_state"],
                    )
                except DomainError as exc:
                    messages.error(request, f"Not moved: {exc}.")
                    return HttpResponseRedirect(change_url)
                moved = f"{state_label(deployment.state)} → {state_label(to_state)}"
                messages.success(request, f"{deployment.slug}: {moved}.")
                return HttpResponseRedirect(change_url)
        else:
            if to_state not in allowed_targets(deployment, actor):
                messages.error(
                    request,
                    f"{state_label(deployment.state)} → {to_state} is not a move an operator "
                    "can make now.",
                )
                return HttpResponseRedirect(change_url)
            form = TransitionForm(initial={"expected_state": deployment.state})
        return self._form_page(
            request,
            deployment,
            title=f"Move {deployment.slug} to {state_label(to_state)}",
            form=form,
            template="admin/deployments/deployment/transition_form.html",
            to_badge=state_badge(to_state),
            submit_label=f"Move to {state_label(to_state)}",
        )

    def override_view(self, request, object_id) -> HttpResponse:
        if not self.has_override_permission(request):
            raise PermissionDenied
        deployment = self._get_or_404(request, object_id)
        change_url = self.change_url(deployment)
        turning_on = not deployment.billing_action_suspended
        if request.method == "POST":
            form = OverrideForm(request.POST)
            if form.is_valid():
                # The value is part of the form, so a double submit sets the same
                # value again, which the service treats as a no-op.
                value = form.cleaned_data["suspended"]
                try:
                    set_billing_override(
                        deployment_id=deployment.pk,
                        suspended=value,
                        actor=Actor.from_admin_request(request),
                        reason=form.cleaned_data["reason"],
                    )
                except (DomainError, ValidationError) as exc:
                    messages.error(request, f"Override not changed: {exc}.")
                    return HttpResponseRedirect(change_url)
                messages.success(
                    request,
                    "Automated billing actions now skip this deployment."
                    if value
                    else "Automated billing actions apply to this deployment again.",
                )
                return HttpResponseRedirect(change_url)
        else:
            form = OverrideForm(initial={"suspended": turning_on})
        return self._form_page(
            request,
            deployment,
            title=(
                f"Suspend automated billing actions for {deployment.slug}"
                if turning_on
                else f"Resume automated billing actions for {deployment.slug}"
            ),
            form=form,
            template="admin/deployments/deployment/override_form.html",
            turning_on=turning_on,
        )
