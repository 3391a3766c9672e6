"""Deliveries to a real HTTP receiver on loopback, verified there with the
`standardwebhooks` library: the success path, retries on the schedule,
timeouts, 410, Retry-After, per-deployment order, rotation."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import requires_postgres
from tests.webhooks.conftest import commit_event, make_endpoint
from tests.webhooks.receiver import Answer
from webhooks.models import Delivery
from webhooks.worker import Worker

pytestmark = pytest.mark.django_db(transaction=True)


def deliver(concurrency: int = 4):
    return Worker(concurrency=concurrency, listen=False).run(once=True)


def test_a_committed_event_arrives_signed_and_verifiable(tenant, receiver):
    endpoint, secret = make_endpoint(tenant, receiver.url, receiver=receiver)
    deployment = uuid.uuid4()
    event = commit_event(tenant, deployment, to_state="paused")

    counts = deliver()

    [hit] = receiver.wait_for(1)
    assert counts["succeeded"] == 1
    assert hit.verified == {secret: True}
    assert hit.webhook_id == f"evt_{event.id}"
    assert hit.envelope["id"] == f"evt_{event.id}"
    assert hit.envelope["data"] == {"to_state": "paused"}
    assert hit.envelope["subject"] == str(deployment)
    assert hit.headers["content-type"] == "application/json"
    delivery = Delivery.objects.get()
    assert delivery.status == "succeeded"
    assert delivery.attempts == 1
    assert delivery.last_status_code == 200
    assert delivery.last_response == "ok"
    assert delivery.delivered_at is not None
