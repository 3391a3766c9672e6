"""The operator console's pages in a real browser, as a billing operator and as
support: the dashboard's tiles, search by tenant name / identity email / id
prefix, the deployment page (timeline high, state badge apart from the
override toggle, the list's filters kept after a move), withdrawing scheduled
changes with a reason on the deployment and subscription pages, History, and
the tenant hub. Screenshots land in build/screenshots/."""

from __future__ import annotations

import pytest

from arcadia_cloud.actors import Actor
from deployments.models import Deployment
from deployments.scheduling import cancel_subscription, schedule_plan_change
from subscriptions.models import PendingChange
from tests.browser.conftest import log_in, save_full_page, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BILLING = "billing@arcadia.example"
SUPPORT = "support@arcadia.example"
ROW_LINKS = "#result_list tbody th.field-slug a"
OWNER = Actor(kind="operator", label="owner@acme.example")


@pytest.fixture
def scheduled(demo):
    """shop (acme, team): a cancellation and a move to enterprise scheduled."""
    shop = Deployment.objects.get(slug="shop")
    cancel = cancel_subscription(
        deployment_id=shop.pk, actor=OWNER, at_period_end=True, reason="Budget cut"
    )
    plan = schedule_plan_change(
        deployment_id=shop.pk, plan_code="enterprise", actor=OWNER, reason="Growing"
    )
    return {"shop": shop, "cancel": cancel, "plan": plan}


def _search(browser, base: str, term: str) -> list[str]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{base}/admin/deployments/deployment/")
    box = wait_for(browser, "#searchbar")
    box.send_keys(term)
    box.submit()
    WebDriverWait(browser, 15).until(staleness_of(box))
    wait_for(browser, "#changelist")
    return [a.text for a in browser.find_elements(By.CSS_SELECTOR, ROW_LINKS)]


def _y(browser, css: str) -> int:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, css).location["y"]


def test_billing_operator_works_the_console(browser, live_server, demo, scheduled):
    from selenium.webdriver.common.by import By

    base = live_server.url
    shop = scheduled["shop"]
    log_in(browser, base, BILLING, demo[BILLING])

    # the dashboard: what needs attention first, each tile a link to its list
    browser.get(f"{base}/admin/dashboard/")
    wait_for(browser, "#attention-tiles")
    for tile in ("overrides", "trials", "cancellations", "webhooks", "feed-lag"):
        assert browser.find_element(By.ID, f"tile-{tile}")
    assert _y(browser, "#attention-tiles") < _y(browser, "#chart-states")
    assert _y(browser, "#latest-events") < _y(browser, "#state-diagram")
    assert (
        browser.find_element(By.ID, "tile-cancellations").find_element(By.CLASS_NAME, "n").text
        == "1"
    )
    save_full_page(browser, "dashboard-tiles.png")
    browser.find_element(By.ID, "tile-cancellations").click()
    wait_for(browser, "#result_list")
    slugs = [
        a.text for a in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody th.field-slug a")
    ]
    assert slugs == ["shop"]

    # search: tenant name, an identity's email, an id prefix
    acme = set(_search(browser, base, "Acme Corp"))
    assert {"shop", "blog", "analytics", "docs"} <= acme
    assert set(_search(browser, base, "owner@acme.example")) == acme
    assert _search(browser, base, str(shop.pk)[:8]) == ["shop"]
    save_full_page(browser, "search-id-prefix.png")

    # from a filtered list to the deployment page
    _search(browser, base, "Acme Corp")
    browser.find_element(By.LINK_TEXT, "shop").click()
    wait_for(browser, "#timeline")
    assert _y(browser, "#timeline-module") < _y(browser, "#subscription")
    badge = browser.find_element(By.CSS_SELECTOR, "#deployment-state .state-badge")
    toggle = browser.find_element(By.ID, "override-button")
    assert "Turn billing override" in toggle.text
    assert badge.value_of_css_property("background-color") != toggle.value_of_css_property(
        "background-color"
    )
    assert "Billing override off" in browser.find_element(By.ID, "override-flag").text
    rows = browser.find_elements(By.CSS_SELECTOR, "#pending-changes tr.pending-change")
    assert len(rows) == 2
    save_full_page(browser, "deployment-page.png")

    # withdraw the scheduled cancellation: a reason is required
    browser.find_element(
        By.CSS_SELECTOR, "tr.pending-change[data-kind='cancel'] a.withdraw-button"
    ).click()
    wait_for(browser, "input[name=reason]")
    browser.find_element(By.ID, "console-submit").click()
    wait_for(browser, ".errorlist")
    browser.find_element(By.NAME, "reason").send_keys("Customer renewed by phone")
    save_full_page(browser, "withdraw-form.png")
    browser.find_element(By.ID, "console-submit").click()
    wait_for(browser, ".messagelist .success")
    newest = browser.find_element(By.CSS_SELECTOR, "#timeline li.event")
    assert "Withdrawn: the scheduled cancellation" in newest.text
    assert "Customer renewed by phone" in newest.text
    assert BILLING in newest.text
    assert newest.find_element(By.CSS_SELECTOR, ".when time").text.endswith("UTC")
    change = PendingChange.objects.get(pk=scheduled["cancel"].pk)
    assert change.withdrawn_reason == "Customer renewed by phone"

    # a move keeps the list's search: back to the list lands on "Acme Corp"
    browser.find_element(By.CSS_SELECTOR, "a.transition-button[data-to-state='paused']").click()
    wait_for(browser, "input[name=reason]").send_keys("Holiday freeze")
    browser.find_element(By.ID, "console-submit").click()
    wait_for(browser, ".messagelist .success")
    assert browser.find_element(By.ID, "deployment-state").get_attribute("data-state") == "paused"
    browser.find_element(By.ID, "back-to-list").click()
    wait_for(browser, "#searchbar")
    assert browser.find_element(By.ID, "searchbar").get_attribute("value") == "Acme Corp"

    # History shows the same timeline
    browser.get(f"{base}/admin/deployments/deployment/{shop.pk}/history/")
    wait_for(browser, "#timeline")
    text = browser.find_element(By.ID, "timeline").text
    assert "Holiday freeze" in text
    assert "Scheduled: cancellation" in text
    save_full_page(browser, "deployment-history.png")

    # the subscription page: withdraw the plan change there
    browser.get(f"{base}/admin/subscriptions/subscription/{shop.subscription.pk}/change/")
    wait_for(browser, "#pending-changes")
    browser.find_element(By.CSS_SELECTOR, "#pending-changes a.withdraw-button").click()
    wait_for(browser, "input[name=reason]").send_keys("Stays on team")
    browser.find_element(By.ID, "console-submit").click()
    wait_for(browser, ".messagelist .success")
    assert "/admin/subscriptions/subscription/" in browser.current_url
    assert "Nothing scheduled" in browser.find_element(By.ID, "pending-changes").text
    save_full_page(browser, "subscription-page.png")

    # the tenant hub, and a state count that opens the filtered list
    browser.get(f"{base}/admin/deployments/deployment/{shop.pk}/change/")
    browser.find_element(By.ID, "tenant-link").click()
    wait_for(browser, "#tenant-deployments")
    assert browser.find_elements(By.CSS_SELECTOR, "#tenant-subscriptions tr.tenant-subscription")
    assert browser.find_elements(By.CSS_SELECTOR, ".tenant-mrr")
    assert "Holiday freeze" in browser.find_element(By.ID, "tenant-events").text
    save_full_page(browser, "tenant-hub.png")
    browser.find_element(By.CSS_SELECTOR, "a.hub-state[data-state='paused']").click()
    wait_for(browser, "#result_list")
    listed = {
        a.text for a in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody th.field-slug a")
    }
    assert "shop" in listed
    assert listed <= acme


def test_support_sees_scheduled_changes_but_cannot_withdraw(
    browser,
    live_server,
    demo,
    scheduled,
):
    from selenium.webdriver.common.by import By

    base = live_server.url
    shop = scheduled["shop"]
    log_in(browser, base, SUPPORT, demo[SUPPORT])
    browser.get(f"{base}/admin/deployments/deployment/{shop.pk}/change/")
    wait_for(browser, "#pending-changes")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#pending-changes tr.pending-change")) == 2
    assert browser.find_elements(By.CSS_SELECTOR, ".withdraw-button") == []
    assert browser.find_elements(By.ID, "override-button") == []
    assert browser.find_elements(By.ID, "change-plan-button") == []
    save_full_page(browser, "deployment-page-support.png")
    browser.get(f"{base}/admin/subscriptions/subscription/{shop.subscription.pk}/change/")
    wait_for(browser, "#pending-changes")
    assert browser.find_elements(By.CSS_SELECTOR, ".withdraw-button") == []

    # a forged withdraw: the page and the POST are refused by the server
    change_id = scheduled["cancel"].pk
    url = f"/admin/deployments/deployment/{shop.pk}/pending-changes/{change_id}/withdraw/"
    browser.get(f"{base}{url}")
    assert "403" in browser.title or "Forbidden" in browser.page_source
    browser.get(f"{base}/admin/")
    # a valid CSRF token (the logout form's), so only the permission can refuse
    status, text = browser.execute_async_script(
        """
        const [url, done] = arguments;
        const token = document.querySelector('input[name=csrfmiddlewaretoken]').value;
        const body = new URLSearchParams({reason: 'forged', csrfmiddlewaretoken: token});
        fetch(url, {method: 'POST', body, credentials: 'same-origin'})
            .then(r => r.text().then(t => done([r.status, t])), () => done([-1, '']));
        """,
        url,
    )
    assert status == 403
    assert "CSRF" not in text
    for change in (scheduled["cancel"], scheduled["plan"]):
        change.refresh_from_db()
        assert change.withdrawn_at is None
