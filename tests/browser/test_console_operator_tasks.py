"""The operator's tasks in a real browser, as a billing operator and as support:
the bulk move with its confirmation, a plan change with its preview, prices in
major units, publishing a catalog version, the tenant filter, the 403 page.
Screenshots of every step land in build/screenshots/."""

from __future__ import annotations

import secrets

import pytest
from django.urls import reverse
from django.utils import timezone

from arcadia_cloud.models import User
from catalog.models import Addon, Plan, PlanVersion
from deployments.models import Deployment
from subscriptions.models import PendingChange, PlanChange, Subscription
from tests.browser.conftest import log_in, save_full_page, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BILLING = "billing@arcadia.example"
SUPPORT = "support@arcadia.example"


def by(css: str):
    from selenium.webdriver.common.by import By

    return By.CSS_SELECTOR, css


def select(driver, css: str):
    from selenium.webdriver.support.ui import Select

    return Select(driver.find_element(*by(css)))


def wait_until(driver, condition, timeout: float = 20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def admin_url(name: str, pk) -> str:
    return reverse(f"admin:{name}", args=[pk])


def text_of(driver, css: str) -> str:
    return driver.find_element(*by(css)).text


@pytest.fixture
def superuser_password(demo):
    user = User.objects.get(is_superuser=True, email="operator@arcadia.example")
    password = secrets.token_urlsafe(16)
    user.set_password(password)
    user.save(update_fields=["password"])
    return password


def test_bulk_move_confirms_then_names_every_skip(browser, live_server, demo):
    base = live_server.url
    Deployment.objects.filter(slug="shop").update(billing_action_suspended=True)
    before = dict(Deployment.objects.values_list("slug", "state"))
    log_in(browser, base, BILLING, demo[BILLING])

    browser.get(f"{base}/admin/deployments/deployment/")
    wait_for(browser, "#result_list")
    browser.find_element(*by("#action-toggle")).click()
    select(browser, "select[name=action]").select_by_value("transition_selected")
    browser.find_element(*by("button[name=index]")).click()

    # step 1: nothing preselected
    target = wait_for(browser, "select[name=to_state]")
    assert (
        select(browser, "select[name=to_state]").first_selected_option.get_attribute("value") == ""
    )
    assert target.get_attribute("required") is not None
    save_full_page(browser, "bulk-1-target.png")
    select(browser, "select[name=to_state]").select_by_value("paused")
    browser.find_element(*by("input[name=reason]")).send_keys("Maintenance window")
    browser.find_element(*by("#console-submit")).click()

    # step 2: what moves, what is skipped and why, with counts
    wait_for(browser, "#will-move")
    moving = int(text_of(browser, "#count-move"))
    skipped = int(text_of(browser, "#count-skipped"))
    held = int(text_of(browser, "#count-overridden"))
    assert moving + skipped + held == int(text_of(browser, "#count-selected")) == len(before)
    assert held >= 1
    assert skipped >= 1
    assert "billing override" in text_of(browser, "#overridden").lower()
    assert "shop" in text_of(browser, "#overridden")
    reasons = [td.text for td in browser.find_elements(*by("#will-skip td:last-child"))]
    assert reasons
    assert all(r.startswith(("not allowed", "already")) for r in reasons)
    save_full_page(browser, "bulk-2-confirm.png")
    browser.find_element(*by("#console-submit")).click()

    # step 3: the result names every skipped deployment
    wait_for(browser, "#skipped")
    assert int(text_of(browser, "#count-moved")) == moving
    skipped_rows = browser.find_elements(*by("#skipped tbody tr"))
    assert len(skipped_rows) == skipped + held
    assert any(
        "shop" in row.text and "billing override on (not ticked)" in row.text
        for row in skipped_rows
    )
    save_full_page(browser, "bulk-3-result.png")
    after = dict(Deployment.objects.values_list("slug", "state"))
    assert after["shop"] == before["shop"]
    assert sum(1 for slug in after if after[slug] == "paused" != before[slug]) == moving


def test_change_plan_with_preview_from_the_subscription(browser, live_server, demo):
    from io import StringIO

    from django.core.management import call_command

    base = live_server.url
    # the billing clock closes the demo's past periods: the open one is this month's
    call_command("run_billing_cycle", stdout=StringIO())
    subscription = Subscription.objects.get(deployment__slug="shop")
    assert subscription.current_period_end > timezone.now().date()
    old_version = subscription.plan_version
    target = PlanVersion.objects.filter(plan__code="enterprise").order_by("-version").first()
    log_in(browser, base, BILLING, demo[BILLING])

    browser.get(
        f"{base}{reverse('admin:subscriptions_subscription_change', args=[subscription.pk])}"
    )
    wait_for(browser, "#change-plan-button").click()
    wait_for(browser, "select[name=target]")
    choices = select(browser, "select[name=target]")
    label = next(
        o.text for o in choices.options if o.text.startswith(f"enterprise v{target.version}")
    )
    assert " USD / " in label  # each version with its price
    choices.select_by_visible_text(label)
    browser.find_element(*by("input[name=effective][value=now]")).click()
    browser.find_element(*by("input[name=reason]")).send_keys("Upgrade asked by the customer")
    save_full_page(browser, "change-plan-1-form.png")
    browser.find_element(*by("#console-submit")).click()

    wait_for(browser, "#plan-change-preview")
    monthly = text_of(browser, "#preview-monthly")
    assert monthly.count("USD") >= 2
    assert "+" in monthly
    assert "pro-rated" in text_of(browser, "#preview-period")
    assert "+" in text_of(browser, "#preview-period .preview-delta")
    assert PlanChange.objects.filter(subscription=subscription).count() == 0
    save_full_page(browser, "change-plan-2-preview.png")
    browser.find_element(*by("#console-submit")).click()

    wait_for(browser, ".messagelist .success")
    subscription.refresh_from_db()
    assert subscription.plan_version_id == target.pk != old_version.pk
    change = PlanChange.objects.filter(subscription=subscription).get()
    assert change.actor == BILLING
    save_full_page(browser, "change-plan-3-done.png")


def test_change_plan_at_period_end_from_the_deployment(browser, live_server, demo):
    base = live_server.url
    deployment = Deployment.objects.get(slug="tps")
    log_in(browser, base, BILLING, demo[BILLING])
    browser.get(
        f"{base}{reverse('admin:deployments_deployment_change_plan', args=[deployment.pk])}"
    )
    wait_for(browser, "select[name=target]")
    # the version it is on: refused in words
    current = next(
        o for o in select(browser, "select[name=target]").options if "(current)" in o.text
    )
    select(browser, "select[name=target]").select_by_visible_text(current.text)
    browser.find_element(*by("input[name=reason]")).send_keys("Try the same")
    browser.find_element(*by("#console-submit")).click()
    wait_until(browser, lambda b: "already on this version" in b.page_source)
    assert "plan_version_unchanged" not in browser.page_source
    save_full_page(browser, "change-plan-refused.png")

    choices = select(browser, "select[name=target]")
    label = next(o.text for o in choices.options if o.text.startswith("team v"))
    choices.select_by_visible_text(label)
    browser.find_element(*by("input[name=effective][value=period_end]")).click()
    browser.find_element(*by("#console-submit")).click()
    wait_for(browser, "#preview-applies-at")
    assert "UTC" in text_of(browser, "#preview-applies-at")
    save_full_page(browser, "change-plan-period-end.png")
    browser.find_element(*by("#console-submit")).click()
    wait_for(browser, ".messagelist .success")
    assert PendingChange.objects.filter(
        subscription__deployment=deployment, target_version__plan__code="team"
    ).exists()


def test_prices_in_major_units_and_publishing_with_confirmation(
    browser,
    live_server,
    demo,
    superuser_password,
):
    base = live_server.url
    log_in(browser, base, "operator@arcadia.example", superuser_password)

    # an add-on priced "59.001" is refused, "59.00" is 5900 cents
    addon = Addon.objects.order_by("code").first()
    browser.get(f"{base}/admin/catalog/addon/{addon.pk}/change/")
    price = wait_for(browser, "input[name=price_cents]")
    price.clear()
    price.send_keys("59.001")
    browser.find_element(*by("input[name=_save]")).click()
    wait_until(browser, lambda b: "at most 2 decimals" in b.page_source)
    save_full_page(browser, "money-refused.png")
    price = browser.find_element(*by("input[name=price_cents]"))
    price.clear()
    price.send_keys("59.00")
    browser.find_element(*by("input[name=_save]")).click()
    wait_for(browser, ".messagelist .success")
    addon.refresh_from_db()
    assert addon.price_cents == 5900
    assert "59.00 USD" in browser.find_element(*by("#result_list")).text
    save_full_page(browser, "money-addons.png")

    # a new version starts as a copy of the newest one
    plan = Plan.objects.get(code="team")
    newest = plan.versions.order_by("-version").first()
    browser.get(f"{base}/admin/catalog/plan/{plan.pk}/change/")
    wait_for(browser, "#new-version-link").click()
    quotas = wait_for(browser, "textarea[name=included_quotas]")
    for kind in newest.included_quotas:
        assert kind in quotas.get_attribute("value")
    save_full_page(browser, "catalog-new-version.png")
    browser.find_element(*by("input[name=_save]")).click()
    wait_for(browser, ".messagelist .success")
    draft = plan.versions.order_by("-version").first()
    assert draft.version == newest.version + 1
    assert draft.included_quotas == newest.included_quotas
    assert draft.price_cents == newest.price_cents

    # publishing asks first
    browser.get(f"{base}/admin/catalog/planversion/?plan__id__exact={plan.pk}")
    wait_for(browser, "#result_list")
    browser.find_element(*by(f"input[name=_selected_action][value='{draft.pk}']")).click()
    select(browser, "select[name=action]").select_by_value("publish")
    browser.find_element(*by("button[name=index]")).click()
    wait_for(browser, "#publish-list")
    assert "freezes its terms for good" in browser.page_source
    assert f"in place of team v{newest.version}" in text_of(browser, "#publish-list")
    draft.refresh_from_db()
    assert not draft.is_published
    save_full_page(browser, "catalog-publish-confirm.png")
    browser.find_element(*by("#console-submit")).click()
    wait_for(browser, ".messagelist .success")
    rows = {
        row.find_element(*by("th")).text: row.text
        for row in browser.find_elements(*by("#result_list tbody tr"))
    }
    assert "on sale" in rows[f"team v{draft.version}"]
    assert "published, superseded" in rows[f"team v{newest.version}"]
    save_full_page(browser, "catalog-on-sale.png")

    # a published version is a view: no Save buttons
    browser.get(f"{base}/admin/catalog/planversion/{newest.pk}/change/")
    wait_for(browser, "#content-main")
    assert browser.find_elements(*by("input[name=_save]")) == []
    save_full_page(browser, "catalog-published-view.png")


def test_tenant_filter_is_a_search_box(browser, live_server, demo):
    from selenium.webdriver.common.keys import Keys

    base = live_server.url
    log_in(browser, base, BILLING, demo[BILLING])
    browser.get(f"{base}/admin/deployments/deployment/")
    wait_for(browser, "#tenant-filter .select2-selection").click()
    search = wait_for(browser, ".select2-search__field")
    search.send_keys("glob")

    def filtered(b):
        # the answer to "glob" has replaced the box's first, unfiltered list
        from selenium.common.exceptions import StaleElementReferenceException

        try:
            options = [o.text for o in b.find_elements(*by(".select2-results__option"))]
        except StaleElementReferenceException:  # the list is being redrawn
            return False
        return options == ["globex"]

    wait_until(browser, filtered)
    search.send_keys(Keys.ENTER)
    wait_until(browser, lambda b: "tenant__id__exact=" in b.current_url)
    wait_for(browser, "#result_list")
    tenants = {td.text for td in browser.find_elements(*by("#result_list td.field-tenant"))}
    assert tenants == {"globex"}
    # the override column reads in words, in full, at 1400 px
    flags = {td.text for td in browser.find_elements(*by("#result_list td.field-override_column"))}
    assert flags <= {"on", "off"}
    save_full_page(browser, "changelist-tenant-filter.png")


def test_support_stays_read_only(browser, live_server, demo):
    base = live_server.url
    subscription = Subscription.objects.get(deployment__slug="crm")
    log_in(browser, base, SUPPORT, demo[SUPPORT])

    browser.get(f"{base}/admin/deployments/deployment/")
    wait_for(browser, "#result_list")
    actions = browser.find_elements(*by("select[name=action] option"))
    assert "transition_selected" not in {o.get_attribute("value") for o in actions}
    save_full_page(browser, "changelist-support.png")

    browser.get(
        f"{base}{reverse('admin:subscriptions_subscription_change', args=[subscription.pk])}"
    )
    wait_for(browser, "#content-main")
    assert browser.find_elements(*by("#change-plan-button")) == []

    # forged URLs: a readable refusal, nothing changed
    browser.get(
        f"{base}{reverse('admin:subscriptions_subscription_change_plan', args=[subscription.pk])}"
    )
    wait_for(browser, "#forbidden-title")
    assert "can't do this with your role" in text_of(browser, "#forbidden-title")
    assert SUPPORT in browser.page_source
    assert '{"' not in browser.page_source
    save_full_page(browser, "forbidden-support.png")

    addon = Addon.objects.order_by("code").first()
    browser.get(f"{base}/admin/catalog/addon/{addon.pk}/change/")
    wait_for(browser, "#content-main")
    assert browser.find_elements(*by("input[name=price_cents]")) == []
    assert browser.find_elements(*by("input[name=_save]")) == []
