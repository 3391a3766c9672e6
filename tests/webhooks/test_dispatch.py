"""The outbox: each committed event gets its deliveries exactly once (one per
enabled endpoint that wants it), a rolled-back fact never gets any, and the
cursor never passes an event that commits later."""

from __future__ import annotations

import random
import time
import uuid

import pytest
from django.db import transaction

from feed.record import record_event
from tests.conftest import requires_postgres
from tests.threads import run_threads
from tests.webhooks.conftest import commit_event, make_endpoint
from webhooks.dispatch import dispatch, needs_dispatch
from webhooks.models import Delivery, DispatchCursor

pytestmark = pytest.mark.django_db(transaction=True)

URL = "http://127.0.0.1:8139/hooks"


def pairs() -> set[tuple]:
    return set(Delivery.objects.values_list("endpoint_id", "event_id"))


def test_a_rolled_back_fact_never_gets_a_delivery(tenant):
    endpoint, _ = make_endpoint(tenant, URL)

    def failing_fact():
        with transaction.atomic():
            record_event(
                type="deployment.created", tenant_id=tenant.pk, deployment_id=None, data={}
            )
            raise RuntimeError("the fact failed")

    with pytest.raises(RuntimeError):
        failing_fact()
    kept = commit_event(tenant)
    dispatch()
    assert pairs() == {(endpoint.pk, kept.id)}


def test_events_before_the_endpoint_existed_are_not_sent(tenant):
    commit_event(tenant)
    endpoint, _ = make_endpoint(tenant, URL)
    after = commit_event(tenant)
    dispatch()
    assert pairs() == {(endpoint.pk, after.id)}


def test_tenants_types_and_platform_wide_endpoints(tenant, other_tenant):
    acme_all, _ = make_endpoint(tenant, URL)
    acme_resources, _ = make_endpoint(tenant, URL, types=["resource.*"])
    wide, _ = make_endpoint(None, URL, types=["deployment.created"])
    created = commit_event(tenant, type_="deployment.created")
    resource = commit_event(tenant, type_="resource.updated")
    foreign = commit_event(other_tenant, type_="deployment.created")
    nobody = commit_event(None, type_="subscription.created")
    result = dispatch()
    assert result.events == 4
    assert result.deliveries == 5
    assert pairs() == {
        (acme_all.pk, created.id),
        (acme_all.pk, resource.id),
        (acme_resources.pk, resource.id),
        (wide.pk, created.id),
        (wide.pk, foreign.id),
    }
    assert nobody.id not in {event for _, event in pairs()}


def test_disabled_endpoints_get_nothing(tenant):
    endpoint, _ = make_endpoint(tenant, URL)
    endpoint.enabled = False
    endpoint.save()
    commit_event(tenant)
    dispatch()
    assert pairs() == set()


def test_dispatching_twice_creates_nothing_twice_and_moves_the_cursor(tenant):
    make_endpoint(tenant, URL)
    for _ in range(3):
        commit_event(tenant)
    first = dispatch()
    assert (first.events, first.deliveries) == (3, 3)
    assert not needs_dispatch()
    again = dispatch()
    assert (again.events, again.deliveries) == (0, 0)
    assert DispatchCursor.objects.get().position == first.position
    assert Delivery.objects.count() == 3


def test_dispatch_in_batches(tenant):
    make_endpoint(tenant, URL)
    events = [commit_event(tenant) for _ in range(7)]
    assert dispatch(batch=3).events == 3
    assert dispatch(batch=3).events == 3
    assert dispatch(batch=3).events == 1
    assert {e for _, e in pairs()} == {e.id for e in events}


def test_dispatch_query_count(tenant, django_assert_max_num_queries):
    for i in range(3):
        make_endpoint(tenant, f"{URL}/{i}")
    for _ in range(20):
        commit_event(tenant)
    dispatch(batch=1)  # the cursor row exists
    # statements: BEGIN, settle (PostgreSQL), lock, cursor, bound, endpoints,
    # INSERT ... SELECT, cursor update, event count, notify, COMMIT
    with django_assert_max_num_queries(11):
        result = dispatch()
    assert result.deliveries == 19 * 3


@requires_postgres
def test_concurrent_writers_and_dispatchers_each_event_exactly_once(tenant):
    """8 writers commit events (holding their transactions open for random
    lengths, so positions commit out of id order) while 3 dispatchers run
    over and over: at the end every committed event has exactly one delivery
    per endpoint, and none of a rolled-back one."""
    endpoints = [make_endpoint(tenant, f"{URL}/{i}")[0] for i in range(2)]
    committed: list[int] = []
    rolled_back: list[int] = []
    done = []

    def writer(i: int) -> None:
        rng = random.Random(i)
        for _ in range(25):
            try:
                with transaction.atomic():
                    event = record_event(
                        type="deployment.transitioned",
                        tenant_id=tenant.pk,
                        deployment_id=uuid.uuid4(),
                        data={"writer": i},
                    )
                    time.sleep(rng.random() * 0.01)
                    if rng.random() < 0.1:
                        raise RuntimeError("rolled back")
                committed.append(event.id)
            except RuntimeError:
                rolled_back.append(event.id)

    def dispatcher(_: int) -> None:
        while len(done) < 8:
            dispatch(batch=7)
            time.sleep(0.002)

    def run(i: int) -> None:
        if i < 8:
            writer(i)
            done.append(i)
        else:
            dispatcher(i)

    assert run_threads(11, run) == []
    dispatch()
    rows = list(Delivery.objects.values_list("endpoint_id", "event_id"))
    assert len(rows) == len(set(rows)), "an event was dispatched twice"
    assert set(rows) == {(e.pk, event) for e in endpoints for event in committed}
    assert not {event for _, event in rows} & set(rolled_back)
