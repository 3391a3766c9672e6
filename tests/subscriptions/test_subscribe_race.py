"""Racing subscribe requests: exactly one wins, the rest are 409, never a 500."""

import threading

import pytest
from django.db import connection, connections

from deployments.services import create_subscription
from subscriptions import services
from subscriptions.errors import SubscriptionExists
from subscriptions.models import Subscription, SubscriptionAddon
from tests.conftest import bearer, requires_postgres
from tests.factories import token_for
from tests.subscriptions.conftest import subscribe_url

THREADS = 10


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_subscribes_one_201_the_rest_409(seeded, tenant_identity, deployment):
    token = token_for(tenant_identity)
    barrier = threading.Barrier(THREADS)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def subscribe():
        client = bearer(token)
        try:
            barrier.wait(timeout=30)
            response = client.post(
                subscribe_url(deployment),
                {"plan_code": "studio", "addons": ["storage_50gb"]},
                format="json",
            )
            with lock:
                results.append((response.status_code, response.json()))
        finally:
            connection.close()  # each thread has its own connection: release it

    threads = [threading.Thread(target=subscribe) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (THREADS - 1), results
    assert all(body == {"error": "subscription_exists"} for s, body in results if s == 409)
    assert Subscription.objects.filter(deployment=deployment).count() == 1
    assert SubscriptionAddon.objects.count() == 1


@pytest.mark.django_db
def test_unique_index_decides_when_the_check_is_raced(
    seeded, deployment, system_actor, monkeypatch
):
    # given a subscription already committed by a racing writer that the
    # pre-insert check did not see
    create_subscription(deployment_id=deployment.pk, plan_code="hobby", actor=system_actor)
    monkeypatch.setattr(services, "_has_subscription", lambda deployment_id: False)
    # when another subscribe reaches the INSERT, the unique index refuses it
    with pytest.raises(SubscriptionExists):
        create_subscription(
            deployment_id=deployment.pk,
            plan_code="studio",
            addon_codes=["storage_50gb"],
            actor=system_actor,
        )
    # and the first subscription is untouched, with no add-on written
    assert Subscription.objects.get().plan_version.plan.code == "hobby"
    assert SubscriptionAddon.objects.count() == 0
    assert connections["default"].in_atomic_block  # the test transaction is still usable
    assert Subscription.objects.count() == 1
