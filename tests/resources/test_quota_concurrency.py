"""Concurrent requests never together exceed a limit: the quota is decided under
the deployment's row lock. Real threads, each on its own connection, on
PostgreSQL (on SQLite, which has one writer at a time, these are skipped)."""

from __future__ import annotations

import contextlib
import threading

import pytest

from deployments.entitlements import entitlements_of
from deployments.errors import QuotaExceeded
from deployments.models import CloudResource
from deployments.resources import create_resource, update_resource
from deployments.services import change_subscription_plan, detach_subscription_addon
from subscriptions.models import SubscriptionAddon
from tests.conftest import bearer, requires_postgres
from tests.factories import SYSTEM_ACTOR, token_for
from tests.threads import run_threads

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

THREADS = 16


def storage(deployment):
    return entitlements_of(deployment.pk).of("storage_gb")


def test_16_concurrent_creates_never_exceed_the_limit(subscribed, tenant_actor):
    # storage_gb: limit 150; 16 requests of 20 each: 7 fit (140), 9 do not
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def create(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            create_resource(
                deployment_id=subscribed.pk,
                kind="storage_gb",
                name=f"disk-{i}",
                qty=20,
                actor=tenant_actor,
            )
            outcome = "created"
        except QuotaExceeded as refused:
            outcome = f"refused at {refused.used}+{refused.requested}>{refused.limit}"
        with lock:
            outcomes.append(outcome)

    assert run_threads(THREADS, create) == []
    # every refusal saw all 7 successes: 140 used + 20 > 150
    assert sorted(outcomes) == ["created"] * 7 + ["refused at 140+20>150"] * 9
    assert CloudResource.objects.filter(deployment=subscribed).count() == 7
    entitlement = storage(subscribed)
    assert (entitlement.used, entitlement.limit) == (140, 150)


def test_16_concurrent_creates_through_the_api(subscribed, tenant_identity):
    token = token_for(tenant_identity)
    barrier = threading.Barrier(THREADS)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def create(i: int) -> None:
        client = bearer(token)
        barrier.wait(timeout=30)
        response = client.post(
            f"/api/v1/deployments/{subscribed.pk}/resources",
            {"kind": "storage_gb", "name": f"disk-{i}", "qty": 30},
            format="json",
        )
        with lock:
            answers.append((response.status_code, response.json()))

    assert run_threads(THREADS, create) == []
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] * 5 + [422] * 11, answers
    assert all(body["error"] == "quota_exceeded" for status, body in answers if status == 422)
    assert storage(subscribed).used == 150


def test_16_concurrent_grows_never_exceed_the_limit(subscribed, tenant_actor):
    resources = [
        create_resource(
            deployment_id=subscribed.pk,
            kind="storage_gb",
            name=f"disk-{i}",
            qty=1,
            actor=tenant_actor,
        )
        for i in range(THREADS)
    ]
    barrier = threading.Barrier(THREADS)

    def grow(i: int) -> None:
        barrier.wait(timeout=30)
        with contextlib.suppress(QuotaExceeded):
            update_resource(resource_id=resources[i].pk, qty=10, actor=tenant_actor)

    assert run_threads(THREADS, grow) == []
    # 16 used; each grow adds 9: 14 fit (16 + 126 = 142), 2 do not
    assert CloudResource.objects.filter(qty=10).count() == 14
    assert storage(subscribed).used == 142


def test_a_detach_racing_creates_never_leaves_use_over_the_limit(subscribed, tenant_actor):
    # 100 in use; the add-on line (50) is what lets more in. One thread detaches
    # it while 15 others each try to add 10.
    create_resource(
        deployment_id=subscribed.pk, kind="storage_gb", name="base", qty=100, actor=tenant_actor
    )
    line = SubscriptionAddon.objects.get(subscription__deployment=subscribed)
    barrier = threading.Barrier(THREADS)

    def act(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            if i == 0:
                detach_subscription_addon(
                    deployment_id=subscribed.pk, line_id=line.pk, actor=tenant_actor
                )
            else:
                create_resource(
                    deployment_id=subscribed.pk,
                    kind="storage_gb",
                    name=f"disk-{i}",
                    qty=10,
                    actor=tenant_actor,
                )
        except QuotaExceeded:
            pass

    assert run_threads(THREADS, act) == []
    entitlement = storage(subscribed)
    assert entitlement.used <= entitlement.limit
    line.refresh_from_db()
    if line.detached_at is not None:
        assert entitlement.used == 100  # detached first: nothing more fitted
    else:
        assert entitlement.used > 100  # a create came first: the detach was refused


def test_a_plan_change_racing_creates_never_leaves_use_over_the_limit(subscribed, tenant_actor):
    # hobby includes 10 storage_gb (+ the 50 GB line: 60)
    barrier = threading.Barrier(THREADS)

    def act(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            if i == 0:
                change_subscription_plan(
                    deployment_id=subscribed.pk, plan_code="hobby", actor=SYSTEM_ACTOR
                )
            else:
                create_resource(
                    deployment_id=subscribed.pk,
                    kind="storage_gb",
                    name=f"disk-{i}",
                    qty=8,
                    actor=tenant_actor,
                )
        except QuotaExceeded:
            pass

    assert run_threads(THREADS, act) == []
    entitlement = storage(subscribed)
    assert entitlement.used <= entitlement.limit
