"""`make run`'s demo receiver: DEBUG and loopback only; shows each delivery and
whether its signature verifies."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings

from webhooks.models import EndpointSecret, WebhookEndpoint
from webhooks.signing import Signer, new_secret

pytestmark = pytest.mark.django_db
URL = "http://testserver/demo/webhook-receiver"


@pytest.fixture
def endpoint(tenant):
    endpoint = WebhookEndpoint.objects.create(tenant=tenant, url=URL, start_position=0)
    secret = EndpointSecret.objects.create(endpoint=endpoint, secret=new_secret())
    return endpoint, secret.secret


def _deliver(client, secret: str, *, tamper: bool = False):
    body = json.dumps({"id": "evt_1", "type": "deployment.created", "subject": None})
    headers = Signer([secret]).headers(message_id="evt_1", body=body)
    if tamper:
        body = body.replace("created", "deleted")
    return client.post(
        "/demo/webhook-receiver",
        data=body,
        content_type="application/json",
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()},
    )


@override_settings(DEBUG=True)
def test_it_shows_what_arrived_and_whether_it_verifies(endpoint):
    client = Client(REMOTE_ADDR="127.0.0.1")
    _, secret = endpoint
    assert _deliver(client, secret).status_code == 200
    assert _deliver(client, secret, tamper=True).status_code == 200
    received = client.get("/demo/webhook-receiver?format=json").json()["received"]
    assert [(r["type"], r["verified"]) for r in received[:2]] == [
        ("deployment.deleted", False),
        ("deployment.created", True),
    ]
    page = client.get("/demo/webhook-receiver").content.decode()
    assert "verified" in page
    assert "does not verify" in page


def test_it_does_not_exist_without_debug(endpoint):
    assert Client(REMOTE_ADDR="127.0.0.1").get("/demo/webhook-receiver").status_code == 404


@override_settings(DEBUG=True)
def test_it_answers_loopback_only(endpoint):
    assert Client(REMOTE_ADDR="10.0.0.7").get("/demo/webhook-receiver").status_code == 404
