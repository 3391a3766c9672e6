"""One timeline per deployment, read from the feed: every kind of fact, who /
what / why / when / request id, newest first, paged with an "Older" link;
Django's History button shows the same timeline; the override is one line."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.db import transaction

from arcadia_cloud.actors import Actor
from billing.models import Statement
from deployments.resources import create_resource
from deployments.scheduling import cancel_subscription, withdraw_pending_change
from deployments.services import change_subscription_plan, set_billing_override
from deployments.transitions import transition_state
from feed.models import Event
from feed.record import record_event
from tests.admin.conftest import SYSTEM, subscribe

OPERATOR = Actor(kind="operator", label="ops@arcadia.example", request_id="req-timeline-1")


def page(client, deployment) -> str:
    response = client.get(f"/admin/deployments/deployment/{deployment.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def timeline_of(body: str) -> str:
    return body[body.index('id="timeline"') : body.index("</ol>", body.index('id="timeline"'))]


def _statement(shop, subscription, *, total: int, currency: str = "USD") -> Statement:
    statement = Statement.objects.create(
        subscription=subscription,
        deployment=shop,
        period_start=date(2026, 10, 1),
        period_end=date(2026, 11, 1),
        currency=currency,
        lines=[
            {
                "kind": "plan",
                "code": "studio",
                "description": "Studio v1",
                "plan_version": 1,
                "unit_price_cents": total,
                "starts_at": "2026-10-01T00:00:00Z",
                "ends_at": "2026-11-01T00:00:00Z",
                "amount_cents": total,
            }
        ],
        total_cents=total,
        closed_at=shop.created_at,
    )
    with transaction.atomic():
        record_event(
            type="subscription.period_closed",
            tenant_id=shop.tenant_id,
            deployment_id=shop.pk,
            data={
                "statement": {
                    "id": statement.pk,
                    "period_start": "2026-10-01",
                    "period_end": "2026-11-01",
                    "currency": currency,
                    "total_cents": total,
                }
            },
        )
    return statement


@pytest.fixture
def history(catalog_items, shop):
    """shop: created, subscribed (studio + 50 GB storage), a resource created, moved to
    past_due with a reason, override on, plan changed to team, a cancellation
    scheduled and withdrawn, a statement closed."""
    subscription = subscribe(shop, "studio", "storage_50gb")
    create_resource(deployment_id=shop.pk, kind="storage_gb", name="uploads", qty=1, actor=SYSTEM)
    transition_state(
        deployment_id=shop.pk,
        to_state="past_due",
        actor=OPERATOR,
        reason="Card declined",
        notes="Retry on Friday",
    )
    set_billing_override(
        deployment_id=shop.pk, suspended=True, actor=OPERATOR, reason="Key account"
    )
    change_subscription_plan(deployment_id=shop.pk, plan_code="team", actor=OPERATOR)
    change = cancel_subscription(
        deployment_id=shop.pk, actor=OPERATOR, at_period_end=True, reason="Budget cut"
    )
    withdraw_pending_change(
        deployment_id=shop.pk, change_id=change.pk, actor=OPERATOR, reason="Changed their mind"
    )
    _statement(shop, subscription, total=4900)
    return shop


def test_every_kind_of_fact_is_on_one_timeline_newest_first(support_client, history):
    body = page(support_client, history)
    timeline = timeline_of(body)
    types = re.findall(r'data-type="([a-z_.]+)"', timeline)
    assert types == [
        "subscription.period_closed",
        "subscription.change_withdrawn",
        "subscription.change_scheduled",
        "subscription.plan_changed",
        "deployment.override_changed",
        "deployment.transitioned",
        "resource.created",
        "subscription.addon_attached",
        "subscription.created",
        "deployment.created",
    ]
    # who / what / why / when / request id
    assert "Card declined" in timeline
    assert "Retry on Friday" in timeline
    assert "ops@arcadia.example" in timeline
    assert "req-timeline-1" in timeline
    assert "Billing override on: automated billing actions suspended" in timeline
    assert "Plan changed: studio v1 (49.00 USD) → team v1 (199.00 USD)" in timeline
    assert "Scheduled: cancellation at the period's end" in timeline
    assert "Withdrawn: the scheduled cancellation" in timeline
    assert "Changed their mind" in timeline
    assert "Statement for 2026-10-01 to 2026-11-01 (end excluded): 49.00 USD" in timeline
    assert "Resource uploads" in timeline
    assert "Add-on storage_50gb attached (50 storage_gb, 7.50 USD)" in timeline
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>", timeline)
    assert "(just now)" in timeline


def test_the_timeline_is_above_the_details_and_no_override_table(support_client, history):
    body = page(support_client, history)
    assert body.index('id="timeline"') < body.index('id="subscription"')
    assert body.index('id="timeline"') < body.index('<fieldset class="module aligned')
    assert "Billing override history" not in body
    assert "override=on" not in body


def test_history_button_shows_the_same_timeline(support_client, history):
    response = support_client.get(f"/admin/deployments/deployment/{history.pk}/history/")
    assert response.status_code == 200
    body = response.content.decode()
    on_page = re.findall(r'data-position="(\d+)"', timeline_of(page(support_client, history)))
    in_history = re.findall(r'data-position="(\d+)"', timeline_of(body))
    assert in_history == on_page
    assert "Card declined" in body


def test_history_pages_older_events_by_position(support_client, shop):
    for i in range(60):
        transition_state(
            deployment_id=shop.pk,
            to_state="paused" if i % 2 == 0 else "active",
            actor=OPERATOR,
            reason=f"move {i}",
        )
    url = f"/admin/deployments/deployment/{shop.pk}/history/"
    first = support_client.get(url)
    rows = first.context["timeline"].rows
    assert len(rows) == 50
    older = first.context["older_url"]
    assert older == f"{url}?before={rows[-1].position}"
    second = support_client.get(older)
    rest = second.context["timeline"].rows
    assert second.context["older_url"] is None
    positions = [r.position for r in rows + rest]
    assert positions == sorted(positions, reverse=True)
    assert len(positions) == Event.objects.filter(deployment_id=shop.pk).count() == 61
    # the deployment page shows the newest 20 and links to the older ones
    body = page(support_client, shop)
    assert timeline_of(body).count('class="event"') == 20
    assert 'id="timeline-older"' in body


def test_history_refuses_a_crafted_position(support_client, shop):
    url = f"/admin/deployments/deployment/{shop.pk}/history/"
    for crafted in ("1; drop", "99999999999999999999999", "-1", "²"):
        response = support_client.get(url, {"before": crafted})
        assert response.status_code == 302
        assert response["Location"] == url


def test_override_is_one_line_with_its_last_change(billing_client, shop):
    body = page(billing_client, shop)
    line = body[body.index('id="override-flag"') : body.index('id="console-actions"')]
    assert "Billing override off:" in line
    set_billing_override(deployment_id=shop.pk, suspended=True, actor=OPERATOR, reason="VIP")
    body = page(billing_client, shop)
    line = body[body.index('id="override-flag"') : body.index('id="console-actions"')]
    assert "Billing override on:" in line
    assert "VIP" in line
    assert "ops@arcadia.example" in line
    # the toggle is an outlined button, not styled like a state button
    button = re.search(r'<a class="([^"]+)" id="override-button"', body).group(1)
    assert "outline" in button
    assert "transition-button" not in button
    assert "Turn billing override off" in body


def test_statements_on_the_page_use_the_currency_exponent(support_client, catalog_items, shop):
    subscription = subscribe(shop, "studio")
    _statement(shop, subscription, total=150000, currency="JPY")
    body = page(support_client, shop)
    statements = body[body.index('id="statements"') : body.index('id="entitlements"')]
    assert "150,000 JPY" in statements
    assert "1,500.00 JPY" not in statements
    # the open period's preview comes first, then the closed statements
    assert statements.index("open period") < statements.index("150,000 JPY")
    assert re.search(r"[0-9]+\.[0-9]{2} USD", statements)  # the preview, in USD
