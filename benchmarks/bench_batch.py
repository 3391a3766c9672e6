"""Batch: `transition_deployments` on N deployments (past_due -> suspended)
against one raw-SQL statement doing the same work (the floor), same run.

The baseline is a single `WITH moved AS (UPDATE ... RETURNING id) INSERT INTO
events SELECT ... FROM moved`: the cheapest way PostgreSQL can move the rows
and write one event each, with no map check, no chunking and no row locks.
The command is timed in-process (`call_command`, Django start-up excluded),
as an operator runs it (its default two workers) and with `--workers 1`, so
the table shows what the parallel chunks buy and what one connection costs.
Before every run the data is rebuilt from scratch (TRUNCATE, INSERT ... SELECT
generate_series, VACUUM ANALYZE, CHECKPOINT) so each run starts from the same
table state; command and baseline runs alternate so drift hits both alike.

    python benchmarks/bench_batch.py [--rows 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import time
from io import StringIO

from common import emit, median, scratch_database, setup_django

TENANTS = 100
REASON = "dunning: unpaid for 30 days"

BUILD = """
INSERT INTO arcadia_cloud_tenant (id, slug, name, created_at)
SELECT gen_random_uuid(), 'bench-' || g, 'Bench ' || g, now()
FROM generate_series(1, %(tenants)s) AS g;

INSERT INTO deployments_deployment
    (id, tenant_id, slug, display_name, region, state, state_since, llm_mode,
     billing_action_suspended, template_code, template_version, created_at, updated_at)
SELECT gen_random_uuid(), t.ids[1 + g %% %(tenants)s], 'app-' || g, 'App ' || g,
       (ARRAY['us-east-1','us-west-2','eu-west-1','eu-central-1','ap-southeast-1'])[1 + g %% 5],
       'past_due', now() - interval '30 days', 'managed', false, NULL, NULL,
       now() - interval '90 days', now() - interval '30 days'
FROM generate_series(1, %(rows)s) AS g,
     (SELECT array_agg(id ORDER BY slug) AS ids FROM arcadia_cloud_tenant) AS t;

-- the history every real deployment has: created active, then past_due
INSERT INTO deployments_deploymentevent
    (deployment_id, from_state, to_state, reason, actor, notes, request_id, occurred_at)
SELECT id, NULL, 'active', 'created', 'system:bench', '', '', created_at
FROM deployments_deployment
UNION ALL
SELECT id, 'active', 'past_due', 'invoice unpaid', 'system:billing', '', '', state_since
FROM deployments_deployment;
"""

BASELINE = """
WITH moved AS (
    UPDATE deployments_deployment
    SET state = 'suspended', state_since = now(), updated_at = now()
    WHERE state = 'past_due' AND NOT billing_action_suspended
    RETURNING id
)
INSERT INTO deployments_deploymentevent
    (deployment_id, from_state, to_state, reason, actor, notes, request_id, occurred_at)
SELECT id, 'past_due', 'suspended', %(reason)s, 'system:transition_deployments', '', '', now()
FROM moved
"""


def rebuild(rows: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE deployments_deploymentevent, deployments_deployment, "
            "arcadia_cloud_tenant CASCADE"
        )
        cursor.execute(BUILD, {"rows": rows, "tenants": TENANTS})
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


def check_moved(rows: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM deployments_deployment WHERE state = 'suspended'),"
            " (SELECT count(*) FROM deployments_deploymentevent WHERE to_state = 'suspended')"
        )
        moved, events = cursor.fetchone()
    if moved != rows or events != rows:
        raise SystemExit(f"expected {rows} moved with one event each; got {moved} / {events}")


def time_baseline() -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(BASELINE, {"reason": REASON})
    return time.perf_counter() - started


def time_command(batch_size: int, workers: int | None) -> float:
    from django.core.management import call_command

    out = StringIO()
    options = [f"--workers={workers}"] if workers is not None else []
    started = time.perf_counter()
    call_command(
        "transition_deployments",
        "--from=past_due",
        "--to=suspended",
        f"--reason={REASON}",
        f"--batch-size={batch_size}",
        *options,
        stdout=out,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, help="default: the command's own")
    args = parser.parse_args()

    with scratch_database("batch") as url:
        setup_django(url)
        from django.db import connection

        from deployments.batch import DEFAULT_BATCH_SIZE, DEFAULT_WORKERS

        args.batch_size = args.batch_size or DEFAULT_BATCH_SIZE
        connection.ensure_connection()  # autocommit: each statement its own transaction
        series: dict[str, list[float]] = {"raw SQL": [], "command": [], "1 worker": []}
        timers = {
            "raw SQL": time_baseline,
            "command": lambda: time_command(args.batch_size, None),
            "1 worker": lambda: time_command(args.batch_size, 1),
        }
        print(
            f"batch: {args.rows:,} deployments past_due -> suspended, {args.runs} runs each; "
            f"command = defaults (--batch-size {args.batch_size}, {DEFAULT_WORKERS} workers)"
        )
        for run in range(1, args.runs + 1):
            for label, times in series.items():
                rebuild(args.rows)
                seconds = timers[label]()
                check_moved(args.rows)
                times.append(seconds)
                print(f"  run {run}: {label:8s} {seconds:6.3f}s")
        raw, cmd, one = (median(series[label]) for label in ("raw SQL", "command", "1 worker"))
        ratio, one_ratio = cmd / raw, one / raw
        print(
            f"batch: command {cmd:.3f}s, raw SQL {raw:.3f}s (medians), ratio {ratio:.2f}x "
            f"(target <= 1.25x) -> {args.rows / cmd:,.0f} deployments/s; "
            f"with --workers 1: {one:.3f}s, {one_ratio:.2f}x"
        )
        emit(
            {
                "rows": args.rows,
                "runs": args.runs,
                "batch_size": args.batch_size,
                "workers": DEFAULT_WORKERS,
                "command_s": cmd,
                "raw_s": raw,
                "ratio": ratio,
                "one_worker_s": one,
                "one_worker_ratio": one_ratio,
            }
        )


if __name__ == "__main__":
    main()
