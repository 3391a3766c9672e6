"""Scheduled changes in the console: what is pending for a subscription, and
withdrawing one with a reason.

The withdraw page is a form asking for the reason, then
`deployments.scheduling.withdraw_pending_change` — the service the API's
`DELETE …/subscription/pending-changes/{id}` calls — with the staff user as
an operator. Who may withdraw: a scheduled cancellation needs the
transition permission (the same as cancelling now), a scheduled plan change
the plan-change permission. Support holds neither: no button, and the server
refuses the POST.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode
from uuid import UUID

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from arcadia_cloud.actors import Actor
from arcadia_cloud.errors import DomainError
from console.charts import state_badge
from deployments.operators import CHANGE_PLAN_PERM, TRANSITION_PERM
from deployments.scheduling import withdraw_pending_change
from subscriptions.models import PendingChange

#: The permission that withdraws each kind of scheduled change.
WITHDRAW_PERM = {
    PendingChange.Kind.CANCEL: TRANSITION_PERM,
    PendingChange.Kind.CHANGE_PLAN: CHANGE_PLAN_PERM,
}


def may_withdraw(user, change: PendingChange) -> bool:
    return bool(user.is_active and user.has_perm(WITHDRAW_PERM[change.kind]))


def describe(change: PendingChange) -> str:
    """`Cancellation` / `Plan change to team v2` (target version and plan loaded)."""
    if change.kind == PendingChange.Kind.CANCEL:
        return "Cancellation"
    version = change.target_version
    return f"Plan change to {version.plan.code} v{version.version}"


@dataclass(frozen=True)
class PendingRow:
    change: PendingChange
    what: str
    withdraw_url: str | None


def pending_rows(
    request, deployment_id: UUID, changes: Iterable[PendingChange], *, back: str
) -> list[PendingRow]:
    """`changes` (pending, target version and plan loaded: as
    `subscriptions.selectors.pending_changes` reads them) with a withdraw link
    for those the user may withdraw. No query."""
    rows = []
    for change in changes:
        url = None
        if may_withdraw(request.user, change):
            url = withdraw_url(deployment_id, change.pk, back=back)
        rows.append(PendingRow(change=change, what=describe(change), withdraw_url=url))
    return rows


def withdraw_url(deployment_id: UUID, change_id: int, *, back: str = "") -> str:
    url = reverse("admin:deployments_deployment_withdraw_change", args=[deployment_id, change_id])
    if back:
        url += "?" + urlencode({"next": back})
    return url


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        help_text="Why it is withdrawn: recorded on the change and shown on the timeline.",
        widget=forms.TextInput(attrs={"size": 60, "autofocus": True}),
    )


class PendingChangeAdminMixin:
    """For the Deployment ModelAdmin: `<id>/pending-changes/<change_id>/withdraw/`."""

    def get_urls(self):
        return [
            path(
                "<path:object_id>/pending-changes/<int:change_id>/withdraw/",
                self.admin_site.admin_view(self.withdraw_change_view),
                name="deployments_deployment_withdraw_change",
            ),
            *super().get_urls(),
        ]

    def withdraw_change_view(self, request, object_id, change_id) -> HttpResponse:
        deployment = self.get_object(request, object_id)
        if deployment is None:
            raise Http404("No such deployment.")
        change = (
            PendingChange.objects.select_related("target_version__plan", "subscription")
            .filter(pk=change_id, subscription__deployment_id=deployment.pk)
            .first()
        )
        if change is None:
            raise Http404("No such scheduled change.")
        if not may_withdraw(request.user, change):
            raise PermissionDenied
        change_url = reverse("admin:deployments_deployment_change", args=[deployment.pk])
        back = request.GET.get("next") or ""
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = ""
        back = back or change_url
        if request.method == "POST":
            form = WithdrawForm(request.POST)
            if form.is_valid():
                try:
                    withdraw_pending_change(
                        deployment_id=deployment.pk,
                        change_id=change.pk,
                        actor=Actor.from_admin_request(request),
                        reason=form.cleaned_data["reason"],
                    )
                except (DomainError, ValidationError) as exc:
                    messages.error(request, f"Not withdrawn: {exc}.")
                    return HttpResponseRedirect(back)
                messages.success(request, f"{describe(change)} withdrawn.")
                return HttpResponseRedirect(back)
        else:
            form = WithdrawForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": deployment,
            "title": f"Withdraw the scheduled change of {deployment.slug}",
            "form": form,
            "state_badge": state_badge(deployment.state),
            "change_url": back,
            "change": change,
            "what": describe(change),
        }
        return TemplateResponse(
            request, "admin/deployments/deployment/withdraw_change_form.html", context
        )
