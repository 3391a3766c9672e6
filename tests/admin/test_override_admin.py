"""The billing-action override through the admin: a reason, the service, an audit row."""

from __future__ import annotations

from deployments.models import BillingOverrideChange


def override_url(deployment) -> str:
    return f"/admin/deployments/deployment/{deployment.pk}/override/"


def test_toggle_on_and_off_is_audited(billing_client, shop):
    # when: the billing operator suspends automated billing actions
    response = billing_client.get(override_url(shop))
    assert response.status_code == 200
    assert 'name="suspended" value="True"' in response.content.decode()
    response = billing_client.post(
        override_url(shop),
        {"reason": "Contract renegotiation", "suspended": "True"},
        HTTP_X_REQUEST_ID="req-override-1",
    )
    # then: the flag is set and the change is recorded with who, why, request id
    assert response.status_code == 302
    shop.refresh_from_db()
    assert shop.billing_action_suspended is True
    change = BillingOverrideChange.objects.get(deployment=shop)
    assert change.value is True
    assert change.actor == "billing@arcadia.example"
    assert change.reason == "Contract renegotiation"
    assert change.request_id == "req-override-1"
    # and: turning it off again is a second audit row
    billing_client.post(override_url(shop), {"reason": "Signed", "suspended": "False"})
    shop.refresh_from_db()
    assert shop.billing_action_suspended is False
    assert list(
        BillingOverrideChange.objects.filter(deployment=shop)
        .order_by("id")
        .values_list("value", "reason")
    ) == [(True, "Contract renegotiation"), (False, "Signed")]


def test_override_history_shows_on_the_page(billing_client, shop):
    billing_client.post(override_url(shop), {"reason": "Key account", "suspended": "True"})
    body = billing_client.get(f"/admin/deployments/deployment/{shop.pk}/change/").content.decode()
    # one line says the override is on, since when, by whom and why; the
    # timeline holds its history; the toggle says what it will do
    line = body[body.index('id="override-flag"') : body.index('id="console-actions"')]
    assert "Billing override on:" in line
    assert "billing@arcadia.example" in line
    assert "Key account" in line
    timeline = body[body.index('id="timeline"') :]
    assert "Billing override on: automated billing actions suspended" in timeline
    assert "Turn billing override off" in body


def test_reason_is_required(billing_client, shop):
    response = billing_client.post(override_url(shop), {"reason": "", "suspended": "True"})
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    shop.refresh_from_db()
    assert shop.billing_action_suspended is False
    assert not BillingOverrideChange.objects.exists()


def test_double_submit_does_not_flip_back(billing_client, shop):
    data = {"reason": "Key account", "suspended": "True"}
    billing_client.post(override_url(shop), data)
    billing_client.post(override_url(shop), data)
    shop.refresh_from_db()
    assert shop.billing_action_suspended is True
    assert BillingOverrideChange.objects.filter(deployment=shop).count() == 1
