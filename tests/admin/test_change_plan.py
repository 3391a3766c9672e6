"""The "Change plan" page, from the deployment and from the subscription: a
version on sale with its price, now or at the period's end, a required reason;
a preview with the monthly totals and the pro-rated effect on the current
period; the one service; refusals in words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import PlanVersion
from console import plan_change
from console.errors import human_error
from deployments.errors import QuotaExceeded
from subscriptions.models import PendingChange, PlanChange, Subscription
from subscriptions.services import attach_addon
from tests.admin.conftest import SYSTEM, subscribe


@pytest.fixture
def subscription(shop, catalog_items):
    return subscribe(shop, "studio", "storage_50gb")


def deployment_page(shop) -> str:
    return reverse("admin:deployments_deployment_change_plan", args=[shop.pk])


def subscription_page(subscription) -> str:
    return reverse("admin:subscriptions_subscription_change_plan", args=[subscription.pk])


def version(code: str) -> PlanVersion:
    return PlanVersion.objects.get(plan__code=code)


def choose(code: str, effective: str = "now", reason: str = "Customer asked", **step):
    return {"target": str(version(code).pk), "effective": effective, "reason": reason, **step}


def test_the_form_shows_each_version_with_its_price(billing_client, shop, subscription):
    page = billing_client.get(deployment_page(shop)).content.decode()
    assert "team v1 — Team — 199.00 USD / Monthly" in page or "199.00 USD" in page
    assert "studio v1 — Studio — 49.00 USD" in page
    assert "(current)" in page
    assert 'id="current-total">56.50 USD<' in page


def test_the_preview_shows_old_and_new_totals_and_the_prorated_effect(
    billing_client, shop, subscription
):
    response = billing_client.post(deployment_page(shop), choose("team", preview="1"))
    assert response.status_code == 200
    preview = response.context["preview"]
    assert (preview["old_total"], preview["new_total"]) == ("56.50 USD", "206.50 USD")
    assert preview["monthly_delta"] == "+150.00 USD"
    # the rest of the period at 150.00 USD a month more: an independent estimate
    subscription.refresh_from_db()
    start = datetime.combine(subscription.current_period_start, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(subscription.current_period_end, datetime.min.time(), tzinfo=UTC)
    share = (end - preview["at"]) / (end - start)
    assert abs(preview["period_delta_minor"] - 15000 * share) <= 1
    page = response.content.decode()
    assert 'id="plan-change-preview"' in page
    assert "pro-rated" in page
    assert PlanChange.objects.count() == 0  # a preview writes nothing


def test_applying_now_calls_the_service_with_the_operator(
    billing_client, billing_operator, shop, subscription
):
    response = billing_client.post(deployment_page(shop), choose("team", apply="1"))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:deployments_deployment_change", args=[shop.pk])
    subscription.refresh_from_db()
    assert subscription.plan_version == version("team")
    change = PlanChange.objects.get()
    assert change.actor == billing_operator.email


def test_at_period_end_shows_the_date_and_schedules(billing_client, subscription):
    response = billing_client.post(
        subscription_page(subscription), choose("team", "period_end", preview="1")
    )
    applies_at = response.context["preview"]["applies_at"]
    assert applies_at == datetime.combine(
        subscription.current_period_end, datetime.min.time(), tzinfo=UTC
    )
    assert f"{applies_at:%Y-%m-%d} 00:00 UTC" in response.content.decode()
    response = billing_client.post(
        subscription_page(subscription), choose("team", "period_end", apply="1")
    )
    assert response.status_code == 302
    pending = PendingChange.objects.get()
    assert (pending.target_version, pending.reason) == (version("team"), "Customer asked")
    assert Subscription.objects.get().plan_version == version("studio")


def test_a_reason_is_required(billing_client, shop, subscription):
    response = billing_client.post(deployment_page(shop), choose("team", reason="", apply="1"))
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert PlanChange.objects.count() == 0


def test_the_same_version_is_refused_in_words(billing_client, shop, subscription):
    response = billing_client.post(deployment_page(shop), choose("studio", preview="1"))
    page = response.content.decode()
    assert "The deployment is already on this version" in page
    assert "plan_version_unchanged" not in page


def test_another_currency_is_refused_in_words(billing_client, shop, subscription):
    response = billing_client.post(deployment_page(shop), choose("euro", preview="1"))
    errors = " ".join(response.context["form"].errors["target"])
    assert "bills in USD" in errors
    assert "EUR" in errors


def test_a_refusal_at_apply_time_is_shown_with_its_figures(
    billing_client, shop, subscription, monkeypatch
):
    def over_quota(**kwargs):
        raise QuotaExceeded("seats", limit=5, used=8, requested=0)

    monkeypatch.setattr(plan_change, "change_subscription_plan", over_quota)
    response = billing_client.post(deployment_page(shop), choose("team", apply="1"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Not changed: Not enough seats: 8 in use, but the new plan allows 5" in page
    assert "quota_exceeded" not in page


def test_error_codes_become_sentences():
    assert human_error(QuotaExceeded("storage_gb", limit=50, used=80, requested=0)) == (
        "Not enough storage gb: 80 in use, but the new plan allows 50. "
        "Free some first, or add an add-on"
    )


def test_support_gets_no_button_and_403(support_client, shop, subscription):
    page = support_client.get(
        reverse("admin:subscriptions_subscription_change", args=[subscription.pk])
    ).content.decode()
    assert "change-plan-button" not in page
    for url in (deployment_page(shop), subscription_page(subscription)):
        assert support_client.get(url).status_code == 403
        assert support_client.post(url, choose("team", apply="1")).status_code == 403
    assert PlanChange.objects.count() == 0


def test_the_subscription_page_has_the_button(billing_client, subscription):
    page = billing_client.get(
        reverse("admin:subscriptions_subscription_change", args=[subscription.pk])
    ).content.decode()
    assert f'href="{subscription_page(subscription)}"' in page


def _preview_queries(client, shop) -> int:
    data = choose("team", preview="1")
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(deployment_page(shop), data)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_preview_costs_a_fixed_number_of_queries(billing_client, shop, subscription):
    # 17 statements, whatever the number of add-ons, events or plan changes:
    # session, user, the user's and the groups' permissions (2), the deployment
    # (get_object), the subscription with its add-on lines and pending changes
    # (3), the chosen version (the form's field), the quota check's limits,
    # add-on quantities and resources in use (3), histories_for's events, plan
    # changes, add-on lines and plan versions (4), the deployment for the header
    before = _preview_queries(billing_client, shop)
    for _ in range(5):
        attach_addon(subscription=subscription, addon_code="seats_5", actor=SYSTEM)
    assert _preview_queries(billing_client, shop) == before
    assert before == 17, before


def test_a_period_the_clock_has_not_closed_yet_is_not_prorated(billing_client, shop, subscription):
    # given: the open period ended before now (the clock has not run yet)
    Subscription.objects.filter(pk=subscription.pk).update(
        current_period_start=datetime(2020, 1, 1, tzinfo=UTC).date(),
        current_period_end=datetime(2020, 2, 1, tzinfo=UTC).date(),
    )
    response = billing_client.post(deployment_page(shop), choose("team", preview="1"))
    preview = response.context["preview"]
    assert preview["period_ended"] == "2020-01-01 to 2020-02-01"
    assert "period_delta" not in preview
    assert "applies from the next period" in response.content.decode()
