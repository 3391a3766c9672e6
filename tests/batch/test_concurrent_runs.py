"""Two runners at once (two machines' cron firing together): real processes, real
PostgreSQL row locks. No deployment moved twice, none missed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.db.models import Count

from deployments.models import Deployment, DeploymentEvent
from tests.batch.conftest import make_deployments
from tests.conftest import requires_postgres

ROOT = Path(__file__).resolve().parents[2]
N = 3000


def _database_url() -> str:
    s = connection.settings_dict
    user = s["USER"] or "postgres"
    auth = f"{user}:{s['PASSWORD']}" if s["PASSWORD"] else user
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _start_runner() -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "test-runner",
        "CI": "1",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "transition_deployments",
            "--from=past_due",
            "--to=suspended",
            "--reason=dunning",
            # small chunks so the two runners interleave over many transactions
            "--batch-size=50",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_blocked(gate, runners, *, count: int, timeout: float = 120) -> None:
    """Until `count` other backends wait for the gate's table lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for runner in runners:
            if runner.poll() is not None:
                raise AssertionError(f"a runner exited early: {runner.communicate()}")
        with psycopg.connect(_database_url(), autocommit=True) as probe:
            waiting = probe.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted "
                "AND relation = 'deployments_deployment'::regclass"
            ).fetchone()[0]
        if waiting >= count:
            return
        time.sleep(0.1)
    raise AssertionError("the runners never reached the table")


def _summary(stdout: str) -> dict[str, int]:
    values = {}
    for line in stdout.splitlines():
        key, _, value = line.strip().partition(": ")
        if value.isdigit():
            values[key] = int(value)
    return values


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_processes_at_once_move_each_deployment_exactly_once(acme):
    # given 3,000 past_due deployments, committed so other processes see them
    make_deployments(acme, N)
    # when two runners start at the same moment: both are held at their first
    # read of the table until both are up, then let go together
    gate = psycopg.connect(_database_url())
    gate.execute("LOCK TABLE deployments_deployment IN ACCESS EXCLUSIVE MODE")
    runners = [_start_runner(), _start_runner()]
    try:
        _wait_until_blocked(gate, runners, count=2)
    finally:
        gate.commit()
        gate.close()
    outputs = [runner.communicate(timeout=300) for runner in runners]
    # then both succeed, and between them they moved every deployment once
    for runner, (_out, err) in zip(runners, outputs, strict=True):
        assert runner.returncode == 0, err
    summaries = [_summary(out) for out, _ in outputs]
    assert sum(s["moved"] for s in summaries) == N, summaries
    assert all(s["failed"] == 0 for s in summaries)
    # every row a runner matched it either moved or saw moved/locked by the other
    for mine in summaries:
        assert mine["moved"] + mine["state changed or locked by another runner"] == mine["matched"]
    # they really ran at the same time: each moved some, and each saw rows the
    # other had taken
    assert all(s["moved"] > 0 for s in summaries), summaries
    assert all(s["state changed or locked by another runner"] > 0 for s in summaries), summaries
    print("runners:", summaries)
    assert Deployment.objects.filter(state="suspended").count() == N
    assert not Deployment.objects.exclude(state="suspended").exists()
    per_deployment = (
        DeploymentEvent.objects.filter(to_state="suspended")
        .values("deployment_id")
        .annotate(n=Count("id"))
    )
    assert len(per_deployment) == N
    assert {row["n"] for row in per_deployment} == {1}
    assert set(
        DeploymentEvent.objects.filter(to_state="suspended").values_list("actor", "reason")
    ) == {("system:transition_deployments", "dunning")}


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_locked_by_another_transaction_is_passed_by_and_the_rest_moved(acme):
    """A chunk first locks its rows NOWAIT; meeting a row another transaction
    holds (an API transition in flight), it is taken again SKIP LOCKED: the
    locked row is passed by and reported, every other row moves, nothing
    twice, nothing half-written."""
    from arcadia_cloud.actors import Actor
    from deployments import batch

    rows = make_deployments(acme, 120)
    held = sorted(rows, key=lambda d: d.pk)[60]  # mid-chunk
    holder = psycopg.connect(_database_url())
    holder.execute("SELECT 1 FROM deployments_deployment WHERE id = %s FOR UPDATE", [held.pk])
    try:
        result = batch.transition_batch(
            selection=batch.BatchSelection(from_state="past_due", to_state="suspended"),
            actor=Actor.system("system:test"),
            reason="dunning",
            batch_size=50,
            workers=1,
        )
    finally:
        holder.rollback()
        holder.close()
    assert (result.matched, result.moved, result.failed) == (120, 119, 0), result
    assert result.skipped_changed_or_locked == 1, result
    assert Deployment.objects.get(pk=held.pk).state == "past_due"
    assert Deployment.objects.filter(state="suspended").count() == 119
    events = DeploymentEvent.objects.filter(to_state="suspended")
    assert events.count() == 119
    assert not events.filter(deployment_id=held.pk).exists()
