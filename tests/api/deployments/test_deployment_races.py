"""Racing transitions over HTTP: 16 threads, each with its own client and its own
database connection, on ONE deployment. No 5xx, one event per 200."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from deployments.models import Deployment, DeploymentEvent
from tests.conftest import bearer, requires_postgres
from tests.deployments.helpers import assert_chain_contiguous
from tests.factories import make_deployment, token_for
from tests.threads import run_threads

THREADS = 16
ROUNDS = 4


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_clients_pausing_and_resuming_one_deployment(tenant, tenant_identity):
    deployment = make_deployment(tenant)
    token = token_for(tenant_identity)
    url = f"/api/v1/deployments/{deployment.pk}/transition"
    barrier = threading.Barrier(THREADS)
    statuses: list[tuple[int, str, int]] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        client = bearer(token)
        # half pause, half resume; every fourth also says which state it expects;
        # one thread ends by cancelling, after which nothing else can move.
        to_state = "paused" if i % 2 == 0 else "active"
        body = {"to_state": to_state, "reason": f"thread {i}"}
        if i % 4 == 1:
            body["expected_state"] = "paused"
        barrier.wait(timeout=60)
        for round_ in range(ROUNDS):
            if i == THREADS - 1 and round_ == ROUNDS - 1:
                body = {"to_state": "cancelled"}
            response = client.post(url, body, format="json")
            payload = response.json()
            with lock:
                statuses.append((response.status_code, body["to_state"], i))
            if response.status_code == 200:
                assert payload["deployment"]["state"] == body["to_state"]
            elif response.status_code == 422:
                assert payload["error"] == "invalid_transition"
            elif response.status_code == 409:
                assert payload["error"] == "state_conflict"

    errors = run_threads(THREADS, worker)

    assert errors == []
    codes = Counter(code for code, _, _ in statuses)
    assert set(codes) <= {200, 409, 422}, codes
    assert sum(codes.values()) == THREADS * ROUNDS
    events = assert_chain_contiguous(deployment)
    assert len(events) == 1 + codes[200]
    assert codes[200] >= 1
    final = Deployment.objects.get(pk=deployment.pk).state
    assert final == events[-1].to_state
    assert final in {"active", "paused", "cancelled"}
    # every moving event was written by one of the 200s, by the tenant's identity
    assert Counter(e.to_state for e in events[1:]) == Counter(
        to for code, to, _ in statuses if code == 200
    )
    assert {e.actor for e in events[1:]} == {tenant_identity.email}


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("body", "loser"),
    [
        (
            {"to_state": "paused"},
            (422, {"error": "invalid_transition", "from": "paused", "to": "paused"}),
        ),
        (
            {"to_state": "paused", "expected_state": "active"},
            (409, {"error": "state_conflict", "expected": "active", "actual": "paused"}),
        ),
    ],
)
def test_two_identical_pauses_at_once_one_wins(tenant, tenant_identity, body, loser):
    """Repeated a few times to give the race room to happen."""
    token = token_for(tenant_identity)
    for attempt in range(5):
        deployment = make_deployment(tenant, slug=f"pair-{attempt}")
        url = f"/api/v1/deployments/{deployment.pk}/transition"
        barrier = threading.Barrier(2)
        answers: list[tuple[int, dict]] = []

        def worker(i: int, url=url, barrier=barrier, answers=answers) -> None:
            client = bearer(token)
            barrier.wait(timeout=30)
            response = client.post(url, body, format="json")
            answers.append((response.status_code, response.json()))

        assert run_threads(2, worker) == []
        codes = sorted(code for code, _ in answers)
        assert codes == sorted([200, loser[0]]), answers
        assert next(b for c, b in answers if c != 200) == loser[1]
        assert DeploymentEvent.objects.filter(deployment=deployment).count() == 2
        assert Deployment.objects.get(pk=deployment.pk).state == "paused"
