"""The operator console in a real browser: a billing operator finds a deployment,
moves it with a reason and sees the event; support sees no transition buttons."""

from __future__ import annotations

import pytest

from deployments.models import Deployment, DeploymentEvent
from tests.browser.conftest import log_in, save_full_page, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_billing_operator_finds_transitions_and_sees_the_event(browser, live_server, demo):
    from selenium.webdriver.common.by import By

    base = live_server.url
    log_in(browser, base, "billing@arcadia.example", demo["billing@arcadia.example"])

    # the dashboard, from the admin index
    browser.find_element(By.CSS_SELECTOR, "#console-dashboard-link a").click()
    wait_for(browser, "#state-diagram svg.state-diagram")
    assert browser.find_element(By.CSS_SELECTOR, "#chart-states svg.console-chart")
    assert browser.find_element(By.CSS_SELECTOR, "#chart-regions svg.console-chart")
    assert browser.find_elements(By.CSS_SELECTOR, "#mrr tr.mrr-line")
    save_full_page(browser, "dashboard.png")

    # find the deployment by search
    browser.get(f"{base}/admin/deployments/deployment/")
    search = wait_for(browser, "#searchbar")
    search.send_keys("analytics")
    search.submit()
    # submit() does not wait for the next page: wait until the unfiltered list
    # has gone and the filtered one is shown
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 15).until(staleness_of(search))
    WebDriverWait(browser, 15).until(lambda b: "q=analytics" in b.current_url)
    wait_for(browser, "#result_list")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 1
    rows[0].find_element(By.LINK_TEXT, "analytics").click()
    wait_for(browser, "#timeline")
    assert browser.find_element(By.ID, "deployment-state").get_attribute("data-state") == (
        "past_due"
    )

    # transition it with a reason
    browser.find_element(By.CSS_SELECTOR, "a.transition-button[data-to-state='active']").click()
    reason = wait_for(browser, "input[name=reason]")
    reason.send_keys("Payment received by card")
    browser.find_element(By.NAME, "notes").send_keys("Invoice 2026-10 settled")
    save_full_page(browser, "transition-form.png")
    browser.find_element(By.ID, "console-submit").click()

    # the deployment page shows the new state and the event on top of the timeline
    wait_for(browser, ".messagelist .success")
    assert browser.find_element(By.ID, "deployment-state").get_attribute("data-state") == "active"
    newest = browser.find_element(By.CSS_SELECTOR, "#timeline li.event")
    assert "Payment received by card" in newest.text
    assert "billing@arcadia.example" in newest.text
    assert "Invoice 2026-10 settled" in newest.text
    save_full_page(browser, "deployment.png")

    # and in the database, through the service
    deployment = Deployment.objects.get(slug="analytics")
    assert deployment.state == "active"
    event = DeploymentEvent.objects.filter(deployment=deployment).order_by("-id").first()
    assert (event.from_state, event.to_state) == ("past_due", "active")
    assert (event.actor, event.reason) == ("billing@arcadia.example", "Payment received by card")
    assert event.request_id


def test_support_sees_no_transition_buttons(browser, live_server, demo):
    from selenium.webdriver.common.by import By

    base = live_server.url
    log_in(browser, base, "support@arcadia.example", demo["support@arcadia.example"])
    deployment = Deployment.objects.get(slug="analytics")
    browser.get(f"{base}/admin/deployments/deployment/{deployment.pk}/change/")
    wait_for(browser, "#timeline")
    assert browser.find_elements(By.CSS_SELECTOR, ".transition-button") == []
    assert browser.find_elements(By.ID, "override-button") == []
    assert "Read-only" in browser.find_element(By.ID, "console-actions").text
    save_full_page(browser, "deployment-support.png")
    # a forged transition URL is refused
    browser.get(f"{base}/admin/deployments/deployment/{deployment.pk}/transition/active/")
    assert "403" in browser.title or "Forbidden" in browser.page_source
    deployment.refresh_from_db()
    assert deployment.state == "past_due"
