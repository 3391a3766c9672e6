"""The batch command's database connections killed mid-run (a failover, an
operator's pg_terminate_backend): it still prints the summary of what it
committed, names what failed, and exits non-zero; what it reports as moved is
exactly what the database holds, each with one event.

A real process on PostgreSQL: the run is held on a lock of the events table
(its workers wait inside their first chunk), every backend of the run is
killed, then the lock is let go.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError

from deployments.models import Deployment, DeploymentEvent
from tests import live
from tests.batch.conftest import make_deployments
from tests.conftest import requires_postgres

ROOT = Path(__file__).resolve().parents[2]
APP = "arcadia-batch-kill-test"
N = 1000
BATCH = 100


def _runner(*extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": live.database_url(),
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "test-runner",
        "CI": "1",
        "PGAPPNAME": APP,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "transition_deployments",
            "--from=past_due",
            "--to=suspended",
            "--reason=dunning",
            f"--batch-size={BATCH}",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _backends(conn, *, waiting: bool = False) -> list[int]:
    sql = (
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
        "AND backend_type = 'client backend'"
    )
    if waiting:
        sql += " AND wait_event_type = 'Lock'"
    return [row[0] for row in conn.execute(sql, [APP]).fetchall()]


def _wait_for(predicate, runner, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if runner.poll() is not None:
            raise AssertionError(f"the run exited early: {runner.communicate()}")
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("the run never reached the events table")


def _summary(stdout: str) -> dict[str, int]:
    values = {}
    for line in stdout.splitlines():
        key, _, value = line.strip().partition(": ")
        if value.isdigit():
            values[key] = int(value)
    return values


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("workers", [2, 1])
def test_killed_connections_still_give_the_summary_and_a_failure(acme, workers):
    make_deployments(acme, N)
    with psycopg.connect(live.database_url(), autocommit=True) as killer:
        gate = psycopg.connect(live.database_url())
        gate.execute("LOCK TABLE deployments_deploymentevent IN EXCLUSIVE MODE")
        runner = _runner(f"--workers={workers}")
        try:
            # every worker holds a chunk and waits to write its events
            _wait_for(lambda: len(_backends(killer, waiting=True)) >= workers, runner)
            killed = _backends(killer)
            for pid in killed:
                killer.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            gate.commit()
            gate.close()
        out, err = runner.communicate(timeout=300)
    # the main connection died too (it ran the selection), not only the workers'
    assert len(killed) >= workers + 1 if workers > 1 else len(killed) >= 1
    assert runner.returncode != 0, (out, err)
    # it ends on its own message, not on an uncaught exception's traceback
    assert err.strip().splitlines()[-1].startswith("CommandError: "), err
    summary = _summary(out)
    moved = Deployment.objects.filter(state="suspended").count()
    # the summary is printed, and is the truth: what it says moved, moved once
    assert summary["matched"] == N, out
    assert summary["moved"] == moved, (out, err)
    assert DeploymentEvent.objects.filter(to_state="suspended").count() == moved
    assert summary["failed"] >= BATCH, out
    assert summary["moved"] + summary["failed"] + summary.get("not attempted", 0) == N, out
    assert Deployment.objects.filter(state="past_due").count() == N - moved
    # and what failed is named
    named = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert any("terminating connection" in line for line in named), err
    # a second run moves the rest, once each
    rerun = _runner(f"--workers={workers}")
    out2, err2 = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err2
    assert _summary(out2)["moved"] == N - moved
    assert DeploymentEvent.objects.filter(to_state="suspended").count() == N


def _lost(*args, **kwargs):
    raise OperationalError("server closed the connection unexpectedly")


def _call(*args: str) -> tuple[str, str, CommandError | None]:
    out, err = StringIO(), StringIO()
    try:
        call_command(
            "transition_deployments",
            "--from=past_due",
            "--to=suspended",
            "--reason=dunning",
            *args,
            stdout=out,
            stderr=err,
        )
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


@pytest.mark.django_db
def test_a_run_cut_off_before_its_first_chunk_still_reports(acme, monkeypatch):
    make_deployments(acme, 5)
    monkeypatch.setattr("deployments.batch.selectors.batch_candidate_count", _lost)
    out, err, failure = _call()
    assert failure is not None
    assert "server closed the connection" in str(failure)
    assert _summary(out) == {
        "matched": 0,
        "moved": 0,
        "skipped": 0,
        "overridden (billing actions suspended)": 0,
        "state changed or locked by another runner": 0,
        "not allowed by the transitions map": 0,
        "failed": 0,
        "not attempted": 0,
    }
    assert "failed: the run stopped on a database error: server closed the connection" in err
    assert not Deployment.objects.filter(state="suspended").exists()


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_final_flush_that_cannot_reach_the_database_reports_what_committed(acme, monkeypatch):
    make_deployments(acme, 300)
    monkeypatch.setattr("deployments.batch._flush_commits", _lost)
    out, err, failure = _call("--batch-size=50")
    assert failure is not None
    summary = _summary(out)
    assert summary["moved"] == 300 == Deployment.objects.filter(state="suspended").count()
    assert (summary["failed"], summary["not attempted"]) == (0, 0)
    assert "failed: the run stopped on a database error" in err
