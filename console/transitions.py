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

from dataclasses import dataclass, field

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from arcadia_cloud.actors import Actor
from arcadia_cloud.errors import DomainError
from console.charts import state_badge, state_colour
from console.errors import human_error
from console.forms import BulkTransitionForm, OverrideForm, TransitionForm, state_label
from deployments.batch import BatchInterrupted, BatchSelection, transition_batch
from deployments.errors import InvalidTransition, StateConflict, TransitionForbidden
from deployments.models import Deployment, State
from deployments.operators import OVERRIDE_PERM, TRANSITION_PERM
from deployments.services import set_billing_override
from deployments.transitions import Refusal, allowed_targets, decide, transition_state

#: Above this many deployments a bulk move takes the set-based path.
BULK_BATCH_THRESHOLD = 100
#: Rows listed per group on the confirmation page (the counts are always whole).
BULK_LIST_SHOWN = 200


def _refusal_text(deployment, to_state: str, refusal: Refusal) -> str:
    if refusal is Refusal.NOT_IN_MAP:
        if deployment.state == to_state:
            return f"already {state_label(to_state)}"
        return f"not allowed from {state_label(deployment.state)}"
    if refusal is Refusal.OVERRIDDEN:
        return "billing override on"
    return f"not allowed for your role from {state_label(deployment.state)}"


@dataclass
class BulkPlan:
    """What a bulk move would do, decided by the one check (`decide`)."""

    movers: list = field(default_factory=list)
    #: allowed, but their automated billing actions are suspended: only if ticked
    overridden: list = field(default_factory=list)
    #: (deployment, why not)
    refused: list = field(default_factory=list)


def plan_bulk(selected: list[Deployment], to_state: str, actor: Actor) -> BulkPlan:
    """No query: the rows carry what the check reads."""
    plan = BulkPlan()
    for deployment in selected:
        decision = decide(deployment.state, to_state, actor, deployment)
        if isinstance(decision, Refusal):
            plan.refused.append((deployment, _refusal_text(deployment, to_state, decision)))
        elif deployment.billing_action_suspended:
            plan.overridden.append(deployment)
        else:
            plan.movers.append(deployment)
    return plan


@dataclass
class BulkOutcome:
    path: str
    moved: int = 0
    #: (deployment, why) — not moved, nothing written
    skipped: list = field(default_factory=list)
    #: (deployment, why) — the write was refused or rolled back
    failed: list = field(default_factory=list)


def _apply_set_based(deployments: list[Deployment], actor: Actor, data: dict) -> BulkOutcome:
    to_state = data["to_state"]
    outcome = BulkOutcome(path="set-based")
    by_source: dict[str, list] = {}
    for deployment in deployments:
        by_source.setdefault(deployment.state, []).append(deployment.pk)
    failed_ids: set = set()
    errors: list[str] = []
    for from_state, ids in sorted(by_source.items()):
        try:
            result = transition_batch(
                selection=BatchSelection(from_state=from_state, to_state=to_state, ids=ids),
                actor=actor,
                reason=data["reason"],
                notes=data["notes"],
            )
        except BatchInterrupted as exc:
            result = exc.result
            errors.append(str(exc.cause))
            failed_ids.update(ids)
        except (DomainError, ValidationError) as exc:
            for deployment in deployments:
                if deployment.state == from_state:
                    outcome.failed.append((deployment, human_error(exc)))
            continue
        outcome.moved += result.moved
        failed_ids.update(result.failed_ids)
        errors.extend(result.errors)
    # Which did not move, and why: one query for the whole selection.
    now = dict(
        Deployment.objects.filter(pk__in=[d.pk for d in deployments]).values_list("pk", "state")
    )
    already = {d.pk for d, _ in outcome.failed}
    for deployment in deployments:
        if deployment.pk in already or now.get(deployment.pk) == to_state:
            continue
        if deployment.pk in failed_ids:
            outcome.failed.append(
                (deployment, "the database refused the chunk; nothing of it was written")
            )
        else:
            current = now.get(deployment.pk)
            outcome.skipped.append(
                (
                    deployment,
                    f"changed meanwhile (now {state_label(current)})"
                    if current
                    else "no longer exists",
                )
            )
    return outcome


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
    #
    # Three steps, each a POST of the changelist's action form (so the
    # selection, "select all" included, travels with it): the target and the
    # reason; the confirmation (what moves, what is skipped and why, with
    # counts; overridden deployments only when ticked one by one); the result
    # (every skipped and failed deployment named).

    @admin.action(description="Transition selected deployments…", permissions=["transition"])
    def transition_selected(self, request, queryset: QuerySet[Deployment]):
        # One query, whatever the selection's size: only the columns the check reads.
        selected = list(
            queryset.select_related(None)
            .order_by("slug", "pk")
            .only("pk", "slug", "state", "tenant_id", "billing_action_suspended")
        )
        actor = Actor.from_admin_request(request)
        targets = sorted(
            {t for d in selected for t in allowed_targets(d, actor)}, key=State.values.index
        )
        step = next((s for s in ("apply", "confirm") if s in request.POST), "")
        form = BulkTransitionForm(request.POST if step else None, targets=targets)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "form": form,
            "count": len(selected),
            "states": [
                state_badge(s) for s in sorted({d.state for d in selected}, key=State.values.index)
            ],
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
            # With "select all" the changelist's filters (in the URL) name the
            # selection and Django only needs one ticked id to run the action
            # (thousands of ids would pass the request's field limit);
            # otherwise the ticked ids travel with every step.
            "selected_ids": (
                [str(d.pk) for d in selected[:1]]
                if request.POST.get("select_across") == "1"
                else [str(d.pk) for d in selected]
            ),
            "media": self.media,
        }
        if step and form.is_valid():
            to_state = form.cleaned_data["to_state"]
            plan = plan_bulk(selected, to_state, actor)
            if step == "apply":
                ticked = set(request.POST.getlist("include_overridden"))
                included = [d for d in plan.overridden if str(d.pk) in ticked]
                outcome = self._apply_bulk(
                    request, [*plan.movers, *included], actor, form.cleaned_data
                )
                outcome.skipped[:0] = [
                    (d, "billing override on (not ticked)")
                    for d in plan.overridden
                    if str(d.pk) not in ticked
                ] + plan.refused
                return TemplateResponse(
                    request,
                    "admin/deployments/deployment/bulk_result.html",
                    {
                        **context,
                        "title": f"Moved to {state_label(to_state)}",
                        "to_badge": state_badge(to_state),
                        "outcome": outcome,
                        "changelist_url": reverse("admin:deployments_deployment_changelist"),
                    },
                )
            return TemplateResponse(
                request,
                "admin/deployments/deployment/bulk_confirm.html",
                {
                    **context,
                    "title": f"Confirm: move to {state_label(to_state)}",
                    "to_state": to_state,
                    "to_badge": state_badge(to_state),
                    "to_label": state_label(to_state),
                    "plan": plan,
                    "movers_shown": plan.movers[:BULK_LIST_SHOWN],
                    "movers_more": max(0, len(plan.movers) - BULK_LIST_SHOWN),
                    "refused_shown": plan.refused[:BULK_LIST_SHOWN],
                    "refused_more": max(0, len(plan.refused) - BULK_LIST_SHOWN),
                    "batch_threshold": BULK_BATCH_THRESHOLD,
                },
            )
        return TemplateResponse(
            request,
            "admin/deployments/deployment/bulk_transition.html",
            {
                **context,
                "title": "Transition deployments",
                "deployments": selected[:20],
                "more": max(0, len(selected) - 20),
            },
        )

    def _apply_bulk(
        self, request, deployments: list[Deployment], actor: Actor, data: dict
    ) -> BulkOutcome:
        """Up to BULK_BATCH_THRESHOLD deployments: one `transition_state` each,
        each in its own transaction, so one failure does not undo the others.
        More: the set-based path (`transition_batch`, one call per source
        state, restricted to these ids), which makes the same check and the
        same writes in a fixed number of statements per chunk."""
        if len(deployments) > BULK_BATCH_THRESHOLD:
            return _apply_set_based(deployments, actor, data)
        outcome = BulkOutcome(path="one by one")
        for deployment in deployments:
            try:
                transition_state(
                    deployment_id=deployment.pk,
                    to_state=data["to_state"],
                    actor=actor,
                    reason=data["reason"],
                    notes=data["notes"],
                    expected_state=deployment.state,
                )
            except (InvalidTransition, TransitionForbidden, StateConflict) as exc:
                outcome.skipped.append((deployment, human_error(exc)))
            except (DomainError, ValidationError) as exc:
                outcome.failed.append((deployment, human_error(exc)))
            else:
                outcome.moved += 1
        return outcome

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
