"""`manage.py deliver_webhooks` as real processes against the test database
(PostgreSQL) and a real receiver: killed with SIGKILL mid-delivery, two at
once, stopped with SIGTERM, woken by a commit. Through all of it: no event
lost, no attempt sent twice at the same time, per-deployment order kept,
every request verifiable."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from django.utils import timezone

from tests import live
from tests.conftest import requires_postgres
from tests.webhooks.conftest import commit_event, make_endpoint
from tests.webhooks.receiver import Answer
from webhooks.models import Delivery

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def start_worker(*extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": live.database_url(),
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "webhook-worker-test",
        "ARCADIA_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "ERROR",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "deliver_webhooks", *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    return proc.communicate(timeout=60)


def events_for(tenant, deployments: int, per_deployment: int) -> dict[str, list[str]]:
    """Commit events round-robin over the deployments; the expected webhook-ids
    of each deployment, in order."""
    ids = [uuid.uuid4() for _ in range(deployments)]
    expected: dict[str, list[str]] = defaultdict(list)
    for step in range(per_deployment):
        for deployment in ids:
            event = commit_event(tenant, deployment, step=step)
            expected[str(deployment)].append(f"evt_{event.id}")
    return expected


def assert_delivered_in_order(receiver, expected: dict[str, list[str]], secret: str) -> None:
    hits = receiver.answered()
    assert all(h.verified[secret] for h in hits), "a request did not verify"
    # no attempt of one webhook-id overlapped another of the same id
    by_id = defaultdict(list)
    for h in hits:
        by_id[h.webhook_id].append((h.started, h.ended))
    for webhook_id, spans in by_id.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, f"two attempts of {webhook_id} at once"
    # every event arrived and was acknowledged; per deployment, in order
    for deployment, ids in expected.items():
        acked = [
            h.webhook_id
            for h in sorted(hits, key=lambda h: h.started)
            if h.envelope["subject"] == deployment and h.answer and h.answer.status == 200
        ]
        first_acks = list(dict.fromkeys(acked))
        assert first_acks == ids, f"deployment {deployment}: {first_acks} != {ids}"
        arrivals = [
            h.webhook_id
            for h in sorted(hits, key=lambda h: h.started)
            if h.envelope["subject"] == deployment
        ]
        # a later event never arrives before an earlier one was acknowledged
        positions = [ids.index(i) for i in arrivals]
        assert positions == sorted(positions), f"deployment {deployment} out of order"


def test_a_worker_killed_mid_delivery_loses_nothing_and_keeps_order(tenant, receiver):
    _, secret = make_endpoint(tenant, receiver.url, receiver=receiver)
    expected = events_for(tenant, deployments=4, per_deployment=5)
    gate = threading.Event()
    # Every request waits at the gate: the worker is killed with attempts in flight.
    receiver.behave(lambda hit: Answer(200) if gate.wait(30) else Answer(500))

    worker = start_worker("--concurrency=4")
    try:
        receiver_deadline = time.monotonic() + 30
        while len(receiver.hits) < 4 and time.monotonic() < receiver_deadline:
            time.sleep(0.05)
        assert len(receiver.hits) == 4, "the worker did not start its attempts"
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    gate.set()  # the dead worker's requests are answered into closed sockets
    in_flight = Delivery.objects.filter(leased_until__isnull=False)
    assert in_flight.count() == 4
    assert Delivery.objects.filter(status="succeeded").count() == 0
    # The lease (60 s) is what brings them back: let it pass.
    in_flight.update(next_attempt_at=timezone.now(), leased_until=timezone.now())

    second = start_worker("--once", "--concurrency=4")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert Delivery.objects.filter(status="succeeded").count() == 20, out
    assert_delivered_in_order(receiver, expected, secret)
    # the 4 attempts of the killed worker were sent again, with the same ids
    assert len(receiver.answered()) == 24


def test_two_workers_never_send_one_attempt_twice(tenant, receiver):
    _, secret = make_endpoint(tenant, receiver.url, receiver=receiver)
    expected = events_for(tenant, deployments=20, per_deployment=8)
    receiver.behave(lambda hit: Answer(200, delay=0.05 + 0.01 * (hit.index % 5)))
    workers = [start_worker("--once", "--concurrency=4") for _ in range(2)]
    delivered = []
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err
        delivered.append(int(re.search(r"delivered: (\d+)", out).group(1)))
    # one --once run may finish while the other still holds work: finish it
    rest = start_worker("--once")
    rest.communicate(timeout=120)
    assert Delivery.objects.filter(status="succeeded").count() == 160
    assert len(receiver.answered()) == 160  # each exactly once
    assert min(delivered) > 0, delivered  # both workers took part
    assert_delivered_in_order(receiver, expected, secret)


def test_sigterm_lets_attempts_in_flight_finish_and_exits_zero(tenant, receiver):
    make_endpoint(tenant, receiver.url, receiver=receiver)
    events_for(tenant, deployments=6, per_deployment=1)
    receiver.behave(lambda hit: Answer(200, delay=1.5))
    worker = start_worker("--concurrency=2")
    deadline = time.monotonic() + 30
    while len(receiver.hits) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(receiver.hits) == 2
    os.killpg(worker.pid, signal.SIGTERM)
    stopped = time.monotonic()
    out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert time.monotonic() - stopped < 5
    assert "delivered: 2" in out
    # the two in flight finished and were recorded; the claimed but unsent ones
    # were released (due now, their attempt not counted); nothing is leased
    assert Delivery.objects.filter(status="succeeded").count() == 2
    assert not Delivery.objects.filter(leased_until__isnull=False).exists()
    pending = Delivery.objects.filter(status="pending")
    assert pending.count() == 4
    assert {d.attempts for d in pending} == {0}
    assert all(d.next_attempt_at <= timezone.now() for d in pending)


def test_an_idle_worker_delivers_within_a_second_of_the_commit(tenant, receiver):
    make_endpoint(tenant, receiver.url, receiver=receiver)
    worker = start_worker("--concurrency=2")
    try:
        time.sleep(2.0)  # started, listening, idle
        latencies = []
        for i in range(5):
            committed = time.monotonic()
            commit_event(tenant, uuid.uuid4(), step=i)
            [hit] = receiver.wait_for(i + 1, timeout=10)[-1:]
            latencies.append(hit.started - committed)
            time.sleep(0.3)
    finally:
        _, err = stop(worker)
    assert worker.returncode == 0, err
    assert max(latencies) < 1.0, latencies


def test_events_committed_while_two_workers_deliver_arrive_in_order(tenant, receiver):
    """Writers commit into a few deployments while two workers run: the
    dispatcher inserts a deployment's new deliveries as waiting exactly when
    an earlier one is still pending, and whoever finishes that one releases
    the next, however the two interleave. Nothing is lost or stuck."""
    from tests.threads import run_threads

    _, secret = make_endpoint(tenant, receiver.url, receiver=receiver)
    deployments = [uuid.uuid4() for _ in range(4)]
    expected: dict[str, list[tuple[int, str]]] = defaultdict(list)
    lock = threading.Lock()
    receiver.behave(lambda hit: Answer(200, delay=0.001 * (hit.index % 3)))
    workers = [start_worker("--concurrency=4") for _ in range(2)]
    try:
        time.sleep(1.5)

        def writer(i: int) -> None:
            for step in range(25):
                deployment = deployments[(i + step) % len(deployments)]
                event = commit_event(tenant, deployment, writer=i, step=step)
                with lock:
                    expected[str(deployment)].append((event.id, f"evt_{event.id}"))
                time.sleep(0.01)

        assert run_threads(3, writer) == []
        receiver.wait_for(75, timeout=60, predicate=lambda h: h.answer.status == 200)
    finally:
        for worker in workers:
            _, err = stop(worker)
            assert worker.returncode == 0, err
    # per deployment, in feed order (positions: the order of the commits)
    from feed.models import Event

    position = dict(Event.objects.values_list("id", "position"))
    ordered = {
        d: [i for event_id, i in sorted(ids, key=lambda pair: position[pair[0]])]
        for d, ids in expected.items()
    }
    assert_delivered_in_order(receiver, ordered, secret)
    assert Delivery.objects.filter(status="succeeded").count() == 75


def test_a_worker_that_cannot_listen_polls_the_feed(tenant, receiver):
    """Without LISTEN (SQLite, or a pooler that cannot carry it) an idle
    worker still finds new events: each poll looks at the feed again."""
    from django.db import connections

    from webhooks.worker import Worker

    make_endpoint(tenant, receiver.url, receiver=receiver)
    worker = Worker(concurrency=1, listen=False)

    def run() -> None:
        try:
            worker.run()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        time.sleep(1.5)  # idle, polling
        commit_event(tenant, uuid.uuid4())
        assert len(receiver.wait_for(1, timeout=10)) == 1
    finally:
        worker.stopping.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
