"""Concurrent duplicates with one Idempotency-Key: one effect, never a 5xx (PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from arcadia_cloud.models import IdempotencyRecord
from deployments.models import Deployment, DeploymentEvent
from tests.conftest import requires_postgres
from tests.factories import IdentityFactory, TenantFactory, make_deployment, token_for
from tests.reliability.conftest import bearer, post_json

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8


def _in_threads(fn, n=THREADS):
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait()
            return fn(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def _check_one_effect(responses, status):
    codes = sorted(r.status_code for r in responses)
    assert all(code in (status, 409) for code in codes), codes
    fresh = [r for r in responses if r.status_code == status and "Idempotent-Replayed" not in r]
    replays = [r for r in responses if r.get("Idempotent-Replayed") == "true"]
    busy = [r for r in responses if r.status_code == 409]
    assert len(fresh) == 1, codes
    assert all(r.content == fresh[0].content for r in replays)
    assert all(r.json() == {"error": "idempotency_key_in_use"} for r in busy)
    assert all(r["Retry-After"] == "1" for r in busy)
    return fresh[0]


def test_concurrent_creates_with_one_key_create_one_deployment():
    tenant = TenantFactory(slug="race")
    raw = token_for(IdentityFactory(email="racer@race.example", tenant=tenant))
    body = {"slug": "web", "display_name": "Web", "region": "us-east-1"}

    responses = _in_threads(
        lambda i: post_json(bearer(raw), "/api/v1/deployments", body, HTTP_IDEMPOTENCY_KEY="same")
    )

    first = _check_one_effect(responses, 201)
    assert Deployment.objects.filter(tenant=tenant).count() == 1
    assert DeploymentEvent.objects.filter(deployment__tenant=tenant).count() == 1
    assert IdempotencyRecord.objects.get().response_body == first.content.decode()
    # After the dust settles every retry replays.
    late = post_json(bearer(raw), "/api/v1/deployments", body, HTTP_IDEMPOTENCY_KEY="same")
    assert late["Idempotent-Replayed"] == "true"
    assert late.content == first.content


def test_concurrent_transitions_with_one_key_write_one_event():
    tenant = TenantFactory(slug="race")
    raw = token_for(IdentityFactory(email="racer@race.example", tenant=tenant))
    deployment = make_deployment(tenant, slug="web")
    path = f"/api/v1/deployments/{deployment.pk}/transition"

    responses = _in_threads(
        lambda i: post_json(bearer(raw), path, {"to_state": "paused"}, HTTP_IDEMPOTENCY_KEY="p")
    )

    _check_one_effect(responses, 200)
    assert list(
        DeploymentEvent.objects.filter(deployment=deployment).values_list("to_state", flat=True)
    ) == ["active", "paused"]


def test_retry_while_the_first_is_in_flight_is_409_then_replays(monkeypatch):
    from deployments.api import views

    tenant = TenantFactory(slug="slow")
    raw = token_for(IdentityFactory(email="slow@slow.example", tenant=tenant))
    body = {"slug": "web", "display_name": "Web", "region": "us-east-1"}
    inside, release = threading.Event(), threading.Event()
    real = views.create_deployment

    def slow_create(**kwargs):
        deployment = real(**kwargs)
        inside.set()
        assert release.wait(10)
        return deployment

    monkeypatch.setattr(views, "create_deployment", slow_create)

    def first():
        try:
            return post_json(bearer(raw), "/api/v1/deployments", body, HTTP_IDEMPOTENCY_KEY="k")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(first)
        assert inside.wait(10)
        # Given the first request holds the key, when a retry arrives: 409, no wait.
        busy = post_json(bearer(raw), "/api/v1/deployments", body, HTTP_IDEMPOTENCY_KEY="k")
        release.set()
        original = pending.result(10)

    assert busy.status_code == 409
    assert busy.json() == {"error": "idempotency_key_in_use"}
    assert original.status_code == 201
    replay = post_json(bearer(raw), "/api/v1/deployments", body, HTTP_IDEMPOTENCY_KEY="k")
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.content == original.content
    assert Deployment.objects.filter(tenant=tenant).count() == 1


def test_concurrent_subscribes_with_one_key_create_one_subscription():
    from django.core.management import call_command

    from subscriptions.models import Subscription, SubscriptionAddon

    call_command("seed_catalog", verbosity=0)
    tenant = TenantFactory(slug="race")
    raw = token_for(IdentityFactory(email="racer@race.example", tenant=tenant))
    deployment = make_deployment(tenant, slug="web")
    path = f"/api/v1/deployments/{deployment.pk}/subscribe"
    body = {"plan_code": "studio", "addons": ["storage_50gb"]}

    responses = _in_threads(lambda i: post_json(bearer(raw), path, body, HTTP_IDEMPOTENCY_KEY="s"))

    _check_one_effect(responses, 201)
    assert Subscription.objects.filter(deployment=deployment).count() == 1
    assert SubscriptionAddon.objects.filter(subscription__deployment=deployment).count() == 1
