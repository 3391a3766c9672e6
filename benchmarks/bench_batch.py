"""Batch: `transition_deployments` on N deployments (past_due -> suspended)
against raw SQL writing the same rows (the floor), same run, at several sizes.

The baseline is ONE statement, `WITH moved AS (UPDATE ... RETURNING *),
audit AS (INSERT INTO events ...) INSERT INTO feed_event ...`: the state
columns, one audit event and one feed event (the same data, built in SQL) per
row, with no map check, no chunking and no row locks, in one transaction: the
cheapest way PostgreSQL can write what the command writes. The command runs
in a child process (Django start-up excluded from its time), once with
`--workers 1` (one connection: what the command's own work costs against the
database's) and once with `--workers 2` (its default), and reports its peak
RSS (`ru_maxrss` of the child), so memory growth with the number of rows
shows. Before every run the data is rebuilt from scratch (TRUNCATE, INSERT ...
SELECT generate_series, VACUUM ANALYZE, CHECKPOINT) so each run starts from
the same table state; baseline and command runs alternate so drift hits all
alike.

    python benchmarks/bench_batch.py [--sizes 10000,100000,500000] [--runs 3]
        [--big-runs 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from io import StringIO

from common import ROOT, emit, median, scratch_database, setup_django

TENANTS = 100
REASON = "dunning: unpaid for 30 days"
ACTOR = "system:transition_deployments"
#: The size the time targets are read at, and the two the memory target compares.
TARGET_SIZE, SMALL_SIZE, LARGE_SIZE = 100_000, 10_000, 500_000
#: Targets (ratios to the raw-SQL floor at TARGET_SIZE; RSS growth in MiB).
ONE_WORKER_TARGET, TWO_WORKERS_TARGET, RSS_GROWTH_TARGET_MIB = 1.10, 0.75, 20

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


def baseline_sql() -> str:
    """The floor: the same rows as the command, in one statement."""
    from deployments.shapes import deployment_shape_sql

    data = json.dumps(
        {
            "from_state": "past_due",
            "to_state": "suspended",
            "actor": ACTOR,
            "reason": REASON,
            "notes": "",
            "request_id": "",
        }
    )
    return f"""
WITH moved AS (
    UPDATE deployments_deployment
    SET state = 'suspended', state_since = now(), updated_at = now()
    WHERE state = 'past_due' AND NOT billing_action_suspended
    RETURNING *
), audit AS (
    INSERT INTO deployments_deploymentevent
        (deployment_id, from_state, to_state, reason, actor, notes, request_id, occurred_at)
    SELECT id, 'past_due', 'suspended', %(reason)s, '{ACTOR}', '', '', now()
    FROM moved ORDER BY id
)
INSERT INTO feed_event (type, tenant_id, deployment_id, occurred_at, data, request_id)
SELECT 'deployment.transitioned', m.tenant_id, m.id, now(),
       '{data}'::jsonb || jsonb_build_object('deployment', {deployment_shape_sql("m")}), ''
FROM moved m ORDER BY m.id
"""


def rebuild(rows: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE feed_event, deployments_deploymentevent, deployments_deployment, "
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
            " (SELECT count(*) FROM deployments_deploymentevent WHERE to_state = 'suspended'),"
            " (SELECT count(*) FROM feed_event WHERE type = 'deployment.transitioned')"
        )
        moved, events, feed = cursor.fetchone()
    if not moved == events == feed == rows:
        raise SystemExit(
            f"expected {rows} moved with one event and one feed event each; "
            f"got {moved} / {events} / {feed}"
        )


def time_baseline() -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(baseline_sql(), {"reason": REASON})
    return time.perf_counter() - started


def time_command(url: str, batch_size: int, workers: int) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of the command in a child process of its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, str(batch_size), str(workers)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["seconds"], result["maxrss_kib"] / 1024


def child(url: str, batch_size: int, workers: int) -> None:
    """Run the command once, as an operator would (Django set up, then the
    command timed), and print its time and this process's peak RSS."""
    os.environ.update({"DATABASE_URL": url, "DEBUG": "false", "CI": "1"})
    os.environ.setdefault("SECRET_KEY", "bench-" + os.urandom(16).hex())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcadia_cloud.settings")
    import django

    django.setup()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command(
        "transition_deployments",
        "--from=past_due",
        "--to=suspended",
        f"--reason={REASON}",
        f"--batch-size={batch_size}",
        f"--workers={workers}",
        stdout=StringIO(),
    )
    seconds = time.perf_counter() - started
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "maxrss_kib": maxrss}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=f"{SMALL_SIZE},{TARGET_SIZE},{LARGE_SIZE}")
    parser.add_argument("--runs", type=int, default=3, help="runs per size up to 100,000")
    parser.add_argument("--big-runs", type=int, default=1, help="runs per larger size")
    parser.add_argument("--batch-size", type=int, help="default: the command's own")
    parser.add_argument("--quick", action="store_true", help="2,000 and 10,000 rows, one run")
    args = parser.parse_args()
    sizes = [2000, 10_000] if args.quick else [int(n) for n in args.sizes.split(",")]
    if args.quick:
        args.runs = args.big_runs = 1

    with scratch_database("batch") as url:
        setup_django(url)
        from django.db import connection

        from deployments.batch import DEFAULT_BATCH_SIZE

        args.batch_size = args.batch_size or DEFAULT_BATCH_SIZE
        connection.ensure_connection()  # autocommit: the baseline is one transaction
        print(
            f"batch: past_due -> suspended at {', '.join(f'{n:,}' for n in sizes)} rows; "
            f"--batch-size {args.batch_size}; --workers 1 and 2 against raw SQL"
        )
        figures = []
        for size in sizes:
            runs = args.runs if size <= TARGET_SIZE else args.big_runs
            series: dict[str, list[float]] = {"raw SQL": [], "1 worker": [], "2 workers": []}
            rss: dict[str, list[float]] = {"1 worker": [], "2 workers": []}
            for run in range(1, runs + 1):
                for label, times in series.items():
                    rebuild(size)
                    if label == "raw SQL":
                        seconds = time_baseline()
                    else:
                        workers = 1 if label == "1 worker" else 2
                        seconds, peak = time_command(url, args.batch_size, workers)
                        rss[label].append(peak)
                    check_moved(size)
                    times.append(seconds)
                    extra = f", peak RSS {rss[label][-1]:.1f} MiB" if label in rss else ""
                    print(f"  {size:>7,} run {run}: {label:9s} {seconds:7.3f}s{extra}")
            raw, one, two = (median(series[k]) for k in ("raw SQL", "1 worker", "2 workers"))
            # also each run against the raw SQL run just before it (same
            # minute, same load): less exposed to the host's drift
            paired = {
                k: median([a / b for a, b in zip(series[k], series["raw SQL"], strict=True)])
                for k in ("1 worker", "2 workers")
            }
            figure = {
                "rows": size,
                "runs": runs,
                "raw_s": raw,
                "one_worker_s": one,
                "two_workers_s": two,
                "one_worker_ratio": one / raw,
                "two_workers_ratio": two / raw,
                "one_worker_paired_ratio": paired["1 worker"],
                "two_workers_paired_ratio": paired["2 workers"],
                "one_worker_rss_mib": max(rss["1 worker"]),
                "two_workers_rss_mib": max(rss["2 workers"]),
            }
            figures.append(figure)
            print(
                f"batch {size:,}: raw SQL {raw:.3f}s; --workers 1 {one:.3f}s "
                f"({figure['one_worker_ratio']:.2f}x), --workers 2 {two:.3f}s "
                f"({figure['two_workers_ratio']:.2f}x) -> {size / two:,.0f} deployments/s; "
                f"peak RSS {figure['one_worker_rss_mib']:.1f} / "
                f"{figure['two_workers_rss_mib']:.1f} MiB; median of per-run ratios "
                f"{paired['1 worker']:.2f}x / {paired['2 workers']:.2f}x"
            )
        by_size = {f["rows"]: f for f in figures}
        growth = None
        if SMALL_SIZE in by_size and LARGE_SIZE in by_size:
            growth = max(
                by_size[LARGE_SIZE][key] - by_size[SMALL_SIZE][key]
                for key in ("one_worker_rss_mib", "two_workers_rss_mib")
            )
            print(f"batch: peak RSS at {LARGE_SIZE:,} rows is {growth:+.1f} MiB on {SMALL_SIZE:,}")
        emit(
            {
                "batch_size": args.batch_size,
                "sizes": figures,
                "target_rows": TARGET_SIZE if TARGET_SIZE in by_size else sizes[-1],
                "rss_growth_mib": growth,
                "targets": {
                    "one_worker": ONE_WORKER_TARGET,
                    "two_workers": TWO_WORKERS_TARGET,
                    "rss_growth_mib": RSS_GROWTH_TARGET_MIB,
                },
            }
        )


if __name__ == "__main__":
    main()
