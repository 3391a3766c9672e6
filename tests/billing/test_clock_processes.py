"""The billing clock as cron runs it: real `manage.py run_billing_cycle`
processes on PostgreSQL.

- Two runners started at the same moment (two machines' cron firing together)
  over subscriptions four periods behind: every (subscription, period) is
  closed exactly once, both exit 0, and their summaries add up.
- A runner whose database connections are killed mid-run (a failover, an
  operator's pg_terminate_backend) prints the summary of what it committed,
  names what failed and exits non-zero; a second run closes the rest, once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
from django.db.models import Count

from billing.models import Statement
from deployments.services import create_subscription
from feed.models import Event
from subscriptions.models import Subscription
from tests import live
from tests.conftest import requires_postgres
from tests.factories import SYSTEM_ACTOR, TenantFactory, make_deployment

ROOT = Path(__file__).resolve().parents[2]
JAN = datetime(2026, 1, 1, tzinfo=UTC)
AS_OF = "2026-05-01T00:00:00Z"  # January to April have ended: four periods each
PERIODS = [date(2026, m, 1) for m in (1, 2, 3, 4)]
APP = "arcadia-clock-process-test"

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def subscriptions(n: int, tenants: int = 5) -> list[int]:
    """`n` subscriptions of `tenants` tenants, started on January 1st, never billed."""
    owners = [TenantFactory(slug=f"clock-{i}") for i in range(tenants)]
    ids = []
    for i in range(n):
        deployment = make_deployment(owners[i % tenants], slug=f"clock-app-{i}", at=JAN)
        create_subscription(
            deployment_id=deployment.pk,
            plan_code="studio",
            addon_codes=["storage_50gb"] if i % 3 == 0 else [],
            actor=SYSTEM_ACTOR,
            at=JAN,
        )
        ids.append(deployment.pk)
    return ids


def runner(*extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": live.database_url(),
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "test-runner",
        "CI": "1",
        "PGAPPNAME": APP,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_billing_cycle", f"--as-of={AS_OF}", *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def summary(stdout: str) -> dict[str, int]:
    values = {}
    for line in stdout.splitlines():
        key, _, value = line.strip().partition(": ")
        if value.isdigit():
            values[key] = int(value)
    return values


def backends(conn, *, waiting: bool = False) -> list[int]:
    sql = (
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
        "AND backend_type = 'client backend'"
    )
    if waiting:
        sql += " AND wait_event_type = 'Lock'"
    return [row[0] for row in conn.execute(sql, [APP]).fetchall()]


def wait_for(predicate, runners, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in runners:
            if proc.poll() is not None:
                raise AssertionError(f"a runner exited early: {proc.communicate()}")
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("the runners never reached the table")


def closed_exactly_once(n: int) -> None:
    per_period = (
        Statement.objects.values("subscription_id", "period_start")
        .annotate(k=Count("id"))
        .values_list("k", flat=True)
    )
    assert set(per_period) == {1}
    assert Statement.objects.count() == n * len(PERIODS)
    assert set(Statement.objects.values_list("period_start", flat=True)) == set(PERIODS)
    assert Event.objects.filter(type="subscription.period_closed").count() == n * len(PERIODS)
    assert set(Subscription.objects.values_list("current_period_start", flat=True)) == {
        date(2026, 5, 1)
    }


@pytest.mark.usefixtures("seeded")
def test_two_runners_at_once_close_every_period_exactly_once():
    n = 300
    subscriptions(n)
    # both runners are held at their first read of the subscriptions until
    # both are up, then let go together
    with psycopg.connect(live.database_url(), autocommit=True) as probe:
        gate = psycopg.connect(live.database_url())
        gate.execute("LOCK TABLE subscriptions_subscription IN ACCESS EXCLUSIVE MODE")
        # small chunks, so the two interleave over many transactions
        runners = [runner("--batch-size=10"), runner("--batch-size=10")]
        try:
            wait_for(lambda: len(backends(probe, waiting=True)) >= 2, runners)
        finally:
            gate.commit()
            gate.close()
        outputs = [proc.communicate(timeout=300) for proc in runners]
    for proc, (out, err) in zip(runners, outputs, strict=True):
        assert proc.returncode == 0, (out, err)
    summaries = [summary(out) for out, _ in outputs]
    print("runners:", summaries)
    # between them: every subscription seen once, four periods closed each
    assert sum(s["subscriptions seen"] for s in summaries) == n, summaries
    assert sum(s["periods closed"] for s in summaries) == n * len(PERIODS), summaries
    assert all(s["failed"] == 0 for s in summaries), summaries
    for s in summaries:
        assert s["periods closed"] == s["subscriptions seen"] * len(PERIODS)
    # they really ran at the same time: each closed some
    assert all(s["periods closed"] > 0 for s in summaries), summaries
    closed_exactly_once(n)
    # and a third run at the same instant writes nothing
    again = runner()
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert summary(out)["periods closed"] == 0
    closed_exactly_once(n)


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("workers", [1, 2])
def test_killed_connections_give_the_summary_a_failure_and_a_rerun_closes_the_rest(workers):
    n, batch = 120, 20
    subscriptions(n, tenants=3)
    with psycopg.connect(live.database_url(), autocommit=True) as killer:
        # every walker locks its first chunk, bills it, then waits to write
        # the statements: kill every connection of the run there
        gate = psycopg.connect(live.database_url())
        gate.execute("LOCK TABLE billing_statement IN EXCLUSIVE MODE")
        proc = runner(f"--batch-size={batch}", f"--workers={workers}")
        try:
            wait_for(lambda: len(backends(killer, waiting=True)) >= workers, [proc])
            killed = backends(killer)
            for pid in killed:
                killer.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            gate.commit()
            gate.close()
        out, err = proc.communicate(timeout=300)
    assert len(killed) >= workers
    assert proc.returncode != 0, (out, err)
    # it ends on its own message, not on an uncaught exception's traceback
    assert err.strip().splitlines()[-1].startswith("CommandError: "), err
    first = summary(out)
    closed = Statement.objects.count()
    # the summary is printed and is the truth: what it says closed, closed once
    assert first["periods closed"] == closed, (out, err)
    assert Event.objects.filter(type="subscription.period_closed").count() == closed
    assert first["failed"] >= batch, out
    assert first["periods closed"] == (first["subscriptions seen"]) * len(PERIODS), out
    assert first["periods closed"] < n * len(PERIODS)
    named = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert any("terminat" in line for line in named), err
    # a second run closes the rest, once each
    rerun = runner(f"--workers={workers}")
    out2, err2 = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err2
    assert summary(out2)["periods closed"] == n * len(PERIODS) - closed
    closed_exactly_once(n)
