"""`--workers`: chunks moved at once on several connections of one process.

These run on committed rows (transaction=True): the workers' own connections
cannot see a test transaction's uncommitted ones.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.db.models import Count

from arcadia_cloud.actors import Actor
from deployments import batch, transitions
from deployments.models import Deployment, DeploymentEvent
from tests.batch.conftest import events_refused_for, make_deployments, run
from tests.conftest import requires_postgres
from tests.factories import TenantFactory

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

DUNNING = ["--from=past_due", "--to=suspended", "--reason=dunning"]


def dunning(*, workers: int, on_progress=None) -> batch.BatchResult:
    """The dunning move through the batch function, in chunks of 10."""
    return batch.transition_batch(
        selection=batch.BatchSelection(from_state="past_due", to_state="suspended"),
        actor=Actor.system("system:test"),
        reason="dunning",
        batch_size=10,
        workers=workers,
        on_progress=on_progress,
    )


def events_per_deployment() -> dict:
    return dict(
        DeploymentEvent.objects.filter(to_state="suspended")
        .values_list("deployment_id")
        .annotate(n=Count("id"))
    )


def test_workers_share_the_chunks_and_move_each_deployment_once(monkeypatch):
    acme = TenantFactory(slug="acme")
    due = make_deployments(acme, 120)
    overridden = make_deployments(acme, 5, billing_action_suspended=True)
    threads: set[str] = set()
    lock = threading.Lock()
    # The first two workers to take a chunk wait for each other, so the test
    # sees two at work however the scheduler starts them.
    two_at_work = threading.Barrier(2, timeout=30)
    real = batch._Run.move_chunk

    def spy(self, *args, **kwargs):
        name = threading.current_thread().name
        with lock:
            first_time = name not in threads
            threads.add(name)
            waits = first_time and len(threads) <= 2
        if waits:
            two_at_work.wait()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(batch._Run, "move_chunk", spy)
    summary = run(*DUNNING, "--batch-size=10", "--workers=3")
    # the chunks really ran on the worker threads, not on the caller's
    assert all(name.startswith("transition-batch-") for name in threads)
    assert len(threads) > 1
    assert summary["matched"] == "125"
    assert summary["moved"] == "120"
    assert summary["overridden (billing actions suspended)"] == "5"
    assert summary["failed"] == "0"
    assert events_per_deployment() == {d.pk: 1 for d in due}
    assert set(
        Deployment.objects.filter(pk__in=[d.pk for d in overridden]).values_list("state", flat=True)
    ) == {"past_due"}
    # the workers' connections are closed (a backend leaves the activity view a
    # moment after its client hangs up), and the caller's commit mode is back
    with connection.cursor() as cursor:
        deadline = time.monotonic() + 10
        while True:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            others = cursor.fetchone()[0]
            if others == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert others == 0
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


def test_progress_is_reported_on_the_calling_thread_up_to_the_total():
    acme = TenantFactory(slug="acme")
    make_deployments(acme, 45)
    seen: list[tuple[int, int, str]] = []
    result = dunning(
        workers=2,
        on_progress=lambda done, total: seen.append((done, total, threading.current_thread().name)),
    )
    assert result.moved == 45
    # once per chunk, in the order the chunks finish: running totals that end
    # at the total, each step one chunk (at most 10 rows; the key space is cut
    # into spans, each ending on a short chunk)
    done = [d for d, _, _ in seen]
    assert done[-1] == 45
    steps = [b - a for a, b in zip([0, *done], done, strict=False)]
    assert all(0 <= step <= 10 for step in steps)
    assert sum(steps) == 45
    assert {total for _, total, _ in seen} == {45}
    assert {name for _, _, name in seen} == {threading.current_thread().name}


def test_a_failing_chunk_on_a_worker_is_counted_and_the_others_still_move():
    acme = TenantFactory(slug="acme")
    due = make_deployments(acme, 40)
    poisoned = due[10].pk
    with events_refused_for([poisoned]), pytest.raises(Exception, match="deployments failed"):
        run(*DUNNING, "--batch-size=10", "--workers=2")
    # that chunk rolled back whole (at most 10 rows, the poisoned one among
    # them); the others moved with one event each
    still_due = set(Deployment.objects.filter(state="past_due").values_list("pk", flat=True))
    assert poisoned in still_due
    assert len(still_due) <= 10
    assert events_per_deployment() == {d.pk: 1 for d in due if d.pk not in still_due}


def test_an_unexpected_error_on_a_worker_stops_the_run_and_reaches_the_caller(monkeypatch):
    acme = TenantFactory(slug="acme")
    make_deployments(acme, 30)

    def broken(self, actor, alias):
        raise RuntimeError("permission check crashed")

    rule = transitions.TRANSITIONS[("past_due", "suspended")]
    monkeypatch.setattr(type(rule), "refusal_sql", broken)
    with pytest.raises(RuntimeError, match="permission check crashed"):
        run(*DUNNING, "--batch-size=10", "--workers=2")
    assert not DeploymentEvent.objects.filter(to_state="suspended").exists()
    assert not Deployment.objects.filter(state="suspended").exists()


def test_inside_a_transaction_the_chunks_run_on_the_callers_connection():
    acme = TenantFactory(slug="acme")
    make_deployments(acme, 30)
    with transaction.atomic():
        # uncommitted rows only this connection can see
        fresh = make_deployments(acme, 5)
        result = dunning(workers=4)
        assert result.moved == 35
        assert result.failed == 0
    assert set(events_per_deployment()) >= {d.pk for d in fresh}
