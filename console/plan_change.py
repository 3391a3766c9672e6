"""The "Change plan" page, from a deployment's page or its subscription's.

Three steps on one URL (`<id>/change-plan/`): the form (a version on sale with
its price, now or at the period's end, a required reason); the preview (old
and new monthly total, plan plus add-ons, and the pro-rated effect on the
current period from `billing.selectors.plan_change_preview`, which is
`statement_for` over the history with and without the change; or the date a
scheduled change applies); then the one service: `change_subscription_plan`
(now) or `schedule_plan_change` (period end), with the staff user as actor.
The service's refusals are shown as sentences (`console.errors.human_error`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from arcadia_cloud.actors import Actor
from arcadia_cloud.errors import DomainError
from arcadia_cloud.money import format_money
from billing.selectors import monthly_total_by_currency, plan_change_preview
from console.errors import human_error
from console.forms import PlanChangeForm
from deployments.entitlements import entitlements_of
from deployments.scheduling import schedule_plan_change
from deployments.services import change_subscription_plan
from subscriptions.selectors import get_subscription_for_deployment
from subscriptions.services import check_plan_change

CHANGE_PLAN_PERM = "subscriptions.change_plan_subscription"


def _totals(totals: dict[str, int]) -> str:
    return " + ".join(format_money(minor, currency) for currency, minor in totals.items())


def _signed(minor: int, currency: str) -> str:
    text = format_money(minor, currency)
    return text if minor < 0 else f"+{text}"


class PlanChangeAdminMixin:
    """For a ModelAdmin whose objects lead to one deployment: adds
    `<id>/change-plan/` (URL name `admin:<app>_<model>_change_plan`)."""

    def deployment_id_of(self, obj):
        raise NotImplementedError

    def has_change_plan_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.has_perm(CHANGE_PLAN_PERM)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/change-plan/",
                self.admin_site.admin_view(self.change_plan_view),
                name="{}_{}_change_plan".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_plan_url(self, request, obj) -> str | None:
        """The button's URL, or None without the permission (no button)."""
        if not self.has_change_plan_permission(request, obj):
            return None
        info = self.opts.app_label, self.opts.model_name
        return reverse("admin:{}_{}_change_plan".format(*info), args=[obj.pk])

    def change_plan_view(self, request, object_id) -> HttpResponse:
        if not self.has_change_plan_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("Not found.")
        back = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])
        deployment_id = self.deployment_id_of(obj)
        subscription = get_subscription_for_deployment(deployment_id)
        if subscription is None:
            messages.error(
                request, "The deployment has no subscription: there is no plan to change."
            )
            return HttpResponseRedirect(back)
        current = subscription.plan_version
        step = next((s for s in ("apply", "preview") if s in request.POST), "")
        form = PlanChangeForm(
            request.POST if step else None,
            current_id=current.pk,
            initial={"effective": PlanChangeForm.NOW},
        )
        preview = None
        if step and form.is_valid():
            target = form.cleaned_data["target"]
            error = self._refusal(subscription, target)
            if error:
                form.add_error("target", error)
            elif step == "apply":
                error = self._apply(request, deployment_id, form.cleaned_data)
                if error is None:
                    return HttpResponseRedirect(back)
                form.add_error(None, error)
            else:
                preview = self._preview(subscription, target, form.cleaned_data["effective"])
        addons = list(subscription.addons.all())
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "title": f"Change plan of {subscription.deployment.slug}",
            "form": form,
            "subscription": subscription,
            "deployment": subscription.deployment,
            "current": current,
            "current_price": format_money(current.price_cents, current.currency),
            "current_total": _totals(monthly_total_by_currency(subscription, addons)),
            "addons": [(line, format_money(line.price_cents, line.currency)) for line in addons],
            "preview": preview,
            "back_url": back,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/console/change_plan.html", context)

    # -- the steps ----------------------------------------------------------------------

    def _refusal(self, subscription, target) -> str | None:
        """The plan-change rules and the quota rule, asked (without locks) before
        the preview so the operator reads why now; the service asks them again,
        under the deployment's lock, when the change is made."""
        try:
            check_plan_change(subscription, target)
            entitlements_of(subscription.deployment_id, plan_version=target).check_within_limits()
        except (DomainError, ValidationError) as exc:
            return human_error(exc)
        return None

    def _preview(self, subscription, target, effective: str) -> dict:
        addons = list(subscription.addons.all())
        old = monthly_total_by_currency(subscription, addons)
        new = dict(old)
        current = subscription.plan_version
        new[current.currency] -= current.price_cents
        new[target.currency] = new.get(target.currency, 0) + target.price_cents
        preview = {
            "target": target,
            "target_price": format_money(target.price_cents, target.currency),
            "old_total": _totals(old),
            "new_total": _totals(new),
            "monthly_delta": " + ".join(
                _signed(new.get(c, 0) - old.get(c, 0), c) for c in sorted({*old, *new})
            ),
            "effective": effective,
        }
        if effective == PlanChangeForm.PERIOD_END:
            preview["applies_at"] = datetime.combine(
                subscription.current_period_end, datetime.min.time(), tzinfo=UTC
            )
            return preview
        now = timezone.now()
        statements = plan_change_preview(subscription, target, now)
        preview["at"] = now
        period_end = datetime.combine(
            subscription.current_period_end, datetime.min.time(), tzinfo=UTC
        )
        if now >= period_end:
            # The clock has not closed the period yet: the change starts after it.
            preview["period_ended"] = (
                f"{subscription.current_period_start:%Y-%m-%d} to "
                f"{subscription.current_period_end:%Y-%m-%d}"
            )
        elif statements is not None:
            before, after = statements
            currency = before.currency
            preview.update(
                period=f"{before.period_start:%Y-%m-%d} to {before.period_end:%Y-%m-%d}",
                period_before=format_money(before.total_cents, currency),
                period_after=format_money(after.total_cents, currency),
                period_delta=_signed(after.total_cents - before.total_cents, currency),
                period_delta_minor=after.total_cents - before.total_cents,
                lines=[
                    (line, format_money(line.amount_cents, currency))
                    for line in after.lines
                    if line.kind == "plan"
                ],
            )
        return preview

    def _apply(self, request, deployment_id, data: dict) -> str | None:
        target = data["target"]
        actor = Actor.from_admin_request(request)
        try:
            if data["effective"] == PlanChangeForm.PERIOD_END:
                change = schedule_plan_change(
                    deployment_id=deployment_id,
                    plan_code=target.plan.code,
                    version=target.version,
                    actor=actor,
                    reason=data["reason"],
                )
                messages.success(
                    request,
                    f"Plan change to {target.plan.code} v{target.version} scheduled for "
                    f"{change.effective_at:%Y-%m-%d %H:%M} UTC.",
                )
            else:
                change_subscription_plan(
                    deployment_id=deployment_id,
                    plan_code=target.plan.code,
                    version=target.version,
                    actor=actor,
                    notes=data["reason"],
                )
                messages.success(request, f"Plan changed to {target.plan.code} v{target.version}.")
        except (DomainError, ValidationError) as exc:
            return f"Not changed: {human_error(exc)}."
        return None


class DeploymentPlanChangeMixin(PlanChangeAdminMixin):
    def deployment_id_of(self, obj):
        return obj.pk


class SubscriptionPlanChangeMixin(PlanChangeAdminMixin):
    def deployment_id_of(self, obj):
        return obj.deployment_id
