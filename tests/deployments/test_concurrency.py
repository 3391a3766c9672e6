"""Racing transitions on one deployment, with real threads and real connections.

`transition_state` locks the row (`SELECT ... FOR UPDATE`) before it checks the
map, so racing callers are serialised: each sees the state its predecessor
left, and the audit trail gets exactly one event per successful move.
`ConcurrentTransitionMixin` is the backstop should a write ever skip the lock.
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.db import transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition

import deployments.transitions as transitions_module
from deployments.errors import InvalidTransition, StateConflict, TransitionForbidden
from deployments.models import Deployment, DeploymentEvent
from deployments.transitions import transition_state
from tests.conftest import requires_postgres
from tests.deployments.helpers import assert_chain_contiguous
from tests.factories import make_deployment
from tests.threads import run_threads

THREADS = 16
ROUNDS = 5


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_threads_racing_on_one_deployment(tenant, actors):
    deployment = make_deployment(tenant)
    barrier = threading.Barrier(THREADS)
    outcomes: list[tuple[str, str]] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        rng = random.Random(i)
        barrier.wait(timeout=60)
        for _ in range(ROUNDS):
            to_state = rng.choice(["paused", "active", "paused", "active", "past_due", "cancelled"])
            role = rng.choice(["tenant", "operator", "system"])
            try:
                transition_state(deployment_id=deployment.pk, to_state=to_state, actor=actors[role])
                outcome = "moved"
            except (InvalidTransition, TransitionForbidden, StateConflict) as exc:
                outcome = type(exc).__name__
            with lock:
                outcomes.append((outcome, to_state))

    errors = run_threads(THREADS, worker)

    assert errors == []
    assert len(outcomes) == THREADS * ROUNDS
    moved = sum(1 for outcome, _ in outcomes if outcome == "moved")
    events = assert_chain_contiguous(deployment)
    assert len(events) == 1 + moved
    assert moved >= 1


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("send_expected_state", [False, True])
def test_same_move_twice_at_once_succeeds_once(tenant, actors, monkeypatch, send_expected_state):
    """Thread A moves active->paused and holds its transaction open; thread B asks
    for the same move meanwhile. B must wait for A's row lock and then see
    `paused` (InvalidTransition, or StateConflict with expected_state) — never
    a second event, and never the ConcurrentTransition a lock-free read would hit."""
    deployment = make_deployment(tenant)
    a_holds_the_lock = threading.Event()
    real_follow = transitions_module.set_status_of_deployments

    results: dict[str, object] = {}

    def slow_follow(**kwargs):
        if threading.current_thread().name == "A":
            a_holds_the_lock.set()
            time.sleep(0.5)
            # still inside A's transaction: A commits (and lets go) after this
            results["A_still_holding_at"] = time.monotonic()
        return real_follow(**kwargs)

    monkeypatch.setattr(transitions_module, "set_status_of_deployments", slow_follow)

    def move(i: int) -> None:
        name = threading.current_thread().name = "AB"[i]
        if name == "B":
            assert a_holds_the_lock.wait(timeout=30)
        try:
            transition_state(
                deployment_id=deployment.pk,
                to_state="paused",
                actor=actors["tenant"],
                expected_state="active" if send_expected_state else None,
            )
            results[name] = "moved"
        except (InvalidTransition, StateConflict, ConcurrentTransition) as exc:
            results[name] = type(exc)
        results[f"{name}_done_at"] = time.monotonic()

    assert run_threads(2, move) == []
    assert results["A"] == "moved"
    assert results["B"] is (StateConflict if send_expected_state else InvalidTransition)
    # B really waited for A's lock rather than reading the old state: it
    # finished after a moment when A still held the row (whatever the scheduler)
    assert results["B_done_at"] > results["A_still_holding_at"]
    assert Deployment.objects.get(pk=deployment.pk).state == "paused"
    assert DeploymentEvent.objects.filter(deployment=deployment).count() == 2
    assert_chain_contiguous(deployment)


@pytest.mark.django_db
def test_concurrent_transition_mixin_refuses_a_save_from_a_stale_read(tenant):
    """The backstop on its own: two copies read in `active`; the first moves to
    paused; the second copy's save must not overwrite it."""
    deployment = make_deployment(tenant)
    first = Deployment.objects.get(pk=deployment.pk)
    second = Deployment.objects.get(pk=deployment.pk)
    first.pause(timezone.now())
    first.save()
    second.cancel(timezone.now())
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        second.save()
    assert Deployment.objects.get(pk=deployment.pk).state == "paused"


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_racing_creates_of_one_slug_make_exactly_one(tenant, actors):
    from django.core.exceptions import ValidationError

    from deployments.services import create_deployment

    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def worker(i: int) -> None:
        barrier.wait(timeout=60)
        try:
            create_deployment(
                tenant=tenant,
                slug="contested",
                display_name=f"Attempt {i}",
                region="us-east-1",
                actor=actors["tenant"],
            )
            outcomes.append("created")
        except ValidationError as exc:
            outcomes.append("duplicate" if list(exc.message_dict) == ["slug"] else repr(exc))

    assert run_threads(8, worker) == []
    assert sorted(outcomes) == ["created"] + ["duplicate"] * 7
    assert Deployment.objects.filter(slug="contested").count() == 1
    assert DeploymentEvent.objects.count() == 1
