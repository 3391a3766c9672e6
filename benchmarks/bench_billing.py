"""Billing: the clock against raw SQL, the statement preview against its reads,
and the export's memory at 1k and at 100k statements. Every figure beside its
baseline measured in the same run.

1. **Clock.** `run_billing_cycle --as-of 2026-02-01` closing January for N
   subscriptions (a third with an add-on; untouched all month: active, no plan
   change), timed in-process (`call_command`, Django start-up excluded), with
   its defaults (2 workers) and with `--workers 1`. The baseline writes the same rows in
   one raw-SQL statement: an INSERT ... SELECT that computes each statement
   (plan line, add-on lines, total: what untouched subscriptions bill) from the
   catalog and the add-on lines, the UPDATE that moves every subscription to
   February, and the INSERT of one `subscription.period_closed` feed event per
   statement. After every run the statements are fingerprinted (count, sum,
   md5 over subscription, total and lines as jsonb): the baseline's must be
   the clock's, or the run stops. Before every run the period is reopened
   (TRUNCATE statements and events, subscriptions back to January, VACUUM
   ANALYZE, CHECKPOINT); clock and baseline runs alternate.
2. **Preview.** `GET .../statements/upcoming`'s work, in-process: the
   subscription read plus `upcoming_statement` (history reads and
   `statement_for`) plus the shape, for a deployment with 1,000 state changes
   in the period; p50/p99 over many calls. Floor: the same SQL reads alone
   (the subscription row, the plan versions, the three
   history queries), without building the history or the statement.
3. **Export RSS.** `manage.py export_statements` for a period of 1,000
   statements and for one of N, each in a fresh child process that reports its
   own peak RSS (VmHWM), CSV and JSON Lines.

    python benchmarks/bench_billing.py [--rows 100000] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from io import StringIO

from common import ROOT, emit, median, scratch_database, setup_django

TENANTS = 100
AS_OF = "2026-02-01T00:00:00Z"
CREATED = "2025-12-15 09:30:00+00"

BUILD = """
INSERT INTO arcadia_cloud_tenant (id, slug, name, created_at)
SELECT gen_random_uuid(), 'bench-' || g, 'Bench ' || g, now()
FROM generate_series(1, %(tenants)s) AS g;

INSERT INTO deployments_deployment
    (id, tenant_id, slug, display_name, region, state, state_since, llm_mode,
     billing_action_suspended, template_code, template_version, created_at, updated_at)
SELECT gen_random_uuid(), t.ids[1 + g %% %(tenants)s], 'app-' || g, 'App ' || g,
       'us-east-1', 'active', %(created)s, 'managed', false, NULL, NULL,
       %(created)s, %(created)s
FROM generate_series(1, %(rows)s) AS g,
     (SELECT array_agg(id ORDER BY slug) AS ids FROM arcadia_cloud_tenant) AS t;

INSERT INTO deployments_deploymentevent
    (deployment_id, from_state, to_state, reason, actor, notes, request_id, occurred_at)
SELECT id, NULL, 'active', 'created', 'system:bench', '', '', created_at
FROM deployments_deployment ORDER BY slug;

INSERT INTO subscriptions_subscription
    (deployment_id, plan_version_id, status, current_period_start, current_period_end,
     created_at, updated_at)
SELECT d.id, v.id, 'active', DATE '2026-01-01', DATE '2026-02-01', %(created)s, %(created)s
FROM deployments_deployment d,
     (SELECT v.id FROM catalog_planversion v JOIN catalog_plan p ON p.id = v.plan_id
      WHERE p.code = 'studio' AND v.published_at IS NOT NULL ORDER BY v.version LIMIT 1) AS v
ORDER BY d.created_at, d.slug;

INSERT INTO subscriptions_subscriptionaddon
    (subscription_id, addon_id, code, resource_kind, qty, price_cents, currency, attached_at)
SELECT s.id, a.id, a.code, a.resource_kind, a.qty, a.price_cents, a.currency, s.created_at
FROM subscriptions_subscription s, catalog_addon a
WHERE a.code = 'storage_50gb' AND s.id %% 3 = 0;
"""

#: The feed as production has it: every deployment's creation is in it (each
#: fact records its event). Rebuilt on every reopen, so the planner sees a
#: populated table, as it would, and not the empty one TRUNCATE leaves.
FEED_HISTORY = """
INSERT INTO feed_event (type, tenant_id, deployment_id, occurred_at, data, request_id)
SELECT 'deployment.created', tenant_id, id, created_at,
       jsonb_build_object('deployment', jsonb_build_object('id', id, 'slug', slug)), ''
FROM deployments_deployment ORDER BY created_at, slug;
"""

REOPEN = (
    """
TRUNCATE billing_statement, feed_event;
"""
    + FEED_HISTORY
    + """
UPDATE subscriptions_subscription
SET current_period_start = DATE '2026-01-01', current_period_end = DATE '2026-02-01',
    billing_ended_at = NULL;
"""
)

#: Untouched subscriptions bill exactly their plan version's price and their
#: add-ons' snapshotted prices over the whole period: the lines and totals
#: statement_for computes for them, written by the database alone.
BASELINE = """
WITH due AS (
    SELECT s.id, s.deployment_id, d.tenant_id, s.current_period_start AS ps,
           s.current_period_end AS pe, v.price_cents, v.currency, v.version,
           p.code, p.name
    FROM subscriptions_subscription s
    JOIN deployments_deployment d ON d.id = s.deployment_id
    JOIN catalog_planversion v ON v.id = s.plan_version_id
    JOIN catalog_plan p ON p.id = v.plan_id
    WHERE s.current_period_end <= %(as_of)s::date AND s.billing_ended_at IS NULL
), addons AS (
    SELECT a.subscription_id,
           jsonb_agg(jsonb_build_object(
               'kind', 'addon', 'code', a.code,
               'description', a.code || ' (' || a.qty || ' ' || a.resource_kind || ')',
               'addon_line_id', a.id, 'unit_price_cents', a.price_cents,
               'starts_at', to_char(due.ps, 'YYYY-MM-DD"T00:00:00Z"'),
               'ends_at', to_char(due.pe, 'YYYY-MM-DD"T00:00:00Z"'),
               'amount_cents', a.price_cents) ORDER BY a.id) AS lines,
           sum(a.price_cents) AS cents
    FROM subscriptions_subscriptionaddon a JOIN due ON due.id = a.subscription_id
    WHERE a.detached_at IS NULL
    GROUP BY a.subscription_id
), written AS (
    INSERT INTO billing_statement
        (subscription_id, deployment_id, period_start, period_end, currency, lines,
         total_cents, closed_at)
    SELECT due.id, due.deployment_id, due.ps, due.pe, due.currency,
           jsonb_build_array(jsonb_build_object(
               'kind', 'plan', 'code', due.code, 'description', due.name || ' v' || due.version,
               'plan_version', due.version, 'unit_price_cents', due.price_cents,
               'starts_at', to_char(due.ps, 'YYYY-MM-DD"T00:00:00Z"'),
               'ends_at', to_char(due.pe, 'YYYY-MM-DD"T00:00:00Z"'),
               'amount_cents', due.price_cents)) || coalesce(addons.lines, '[]'::jsonb),
           due.price_cents + coalesce(addons.cents, 0), now()
    FROM due LEFT JOIN addons ON addons.subscription_id = due.id
    ORDER BY due.id
    RETURNING id, subscription_id, deployment_id, period_start, period_end, currency, lines,
              total_cents, closed_at
), moved AS (
    UPDATE subscriptions_subscription s
    SET current_period_start = w.period_end,
        current_period_end = (w.period_end + interval '1 month')::date, updated_at = now()
    FROM written w WHERE s.id = w.subscription_id
)
INSERT INTO feed_event (type, tenant_id, deployment_id, occurred_at, data, request_id)
SELECT 'subscription.period_closed', due.tenant_id, w.deployment_id, now(),
       jsonb_build_object('statement', jsonb_build_object(
           'id', w.id, 'subscription_id', w.subscription_id,
           'period_start', w.period_start::text, 'period_end', w.period_end::text,
           'currency', w.currency, 'lines', w.lines, 'total_cents', w.total_cents,
           'closed_at', to_char(w.closed_at AT TIME ZONE 'UTC',
                                'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))), ''
FROM written w JOIN due ON due.id = w.subscription_id
ORDER BY w.id
"""

FINGERPRINT = """
SELECT count(*), coalesce(sum(total_cents), 0),
       md5(coalesce(string_agg(subscription_id || ':' || period_start || ':' || total_cents
                               || ':' || lines::text, ',' ORDER BY subscription_id), '')),
       (SELECT count(*) FROM feed_event WHERE type = 'subscription.period_closed'),
       (SELECT count(*) FROM subscriptions_subscription
        WHERE current_period_start = DATE '2026-02-01')
FROM billing_statement
"""


def sql(statement: str, params: dict | None = None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or {})
        return cursor.fetchall() if cursor.description else None


def build(rows: int) -> None:
    from django.core.management import call_command

    call_command("seed_catalog", verbosity=0)
    sql(BUILD, {"rows": rows, "tenants": TENANTS, "created": CREATED})
    sql("VACUUM ANALYZE")


def reopen() -> None:
    sql(REOPEN)
    sql("VACUUM ANALYZE")
    sql("CHECKPOINT")


def fingerprint(rows: int) -> tuple:
    found = tuple(sql(FINGERPRINT)[0])
    if (found[0], found[3], found[4]) != (rows, rows, rows):
        raise SystemExit(f"expected {rows} statements, events and moves; got {found}")
    return found[:3]


def time_baseline() -> float:
    started = time.perf_counter()
    sql(BASELINE, {"as_of": AS_OF})
    return time.perf_counter() - started


def time_clock(*options: str) -> float:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("run_billing_cycle", f"--as-of={AS_OF}", *options, stdout=StringIO())
    return time.perf_counter() - started


def bench_clock(rows: int, runs: int) -> dict:
    timers = {
        "raw SQL": time_baseline,
        "clock": time_clock,
        "clock, 1 worker": lambda: time_clock("--workers=1"),
    }
    series: dict[str, list[float]] = {label: [] for label in timers}
    prints: dict[str, tuple] = {}
    print(f"clock: closing January for {rows:,} subscriptions, {runs} runs each")
    for run in range(1, runs + 1):
        for label, timer in timers.items():
            reopen()
            seconds = timer()
            prints[label] = fingerprint(rows)
            series[label].append(seconds)
            print(f"  run {run}: {label:17s} {seconds:7.3f}s")
        if len(set(prints.values())) != 1:
            raise SystemExit(f"the baseline wrote other statements than the clock: {prints}")
    raw, clock, one = (median(series[label]) for label in timers)
    print(
        f"clock: {clock:.3f}s, raw SQL {raw:.3f}s (medians): {clock / raw:.2f}x (target <= 2x), "
        f"{rows / clock:,.0f} periods/s; with --workers 1: {one:.3f}s, {one / raw:.2f}x"
    )
    return {
        "rows": rows,
        "runs": runs,
        "clock_s": clock,
        "raw_s": raw,
        "ratio": clock / raw,
        "one_worker_s": one,
        "one_worker_ratio": one / raw,
    }


def preview_history(events: int):
    """A deployment with `events` state changes in January 2026 (active and
    paused in turn), on studio with two add-on lines, its period January."""
    from arcadia_cloud.models import Tenant
    from deployments.models import Deployment, DeploymentEvent
    from subscriptions.models import Subscription, SubscriptionAddon

    created = datetime(2025, 12, 20, tzinfo=UTC)
    tenant = Tenant.objects.order_by("slug").first()
    deployment = Deployment.objects.create(
        tenant=tenant,
        slug="preview",
        display_name="Preview",
        region="us-east-1",
        state="active",
        state_since=created,
        created_at=created,
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(days=31) / events
    DeploymentEvent.objects.bulk_create(
        [
            DeploymentEvent(
                deployment=deployment,
                to_state="active",
                reason="created",
                actor="system:bench",
                occurred_at=created,
            )
        ]
        + [
            DeploymentEvent(
                deployment=deployment,
                from_state="active" if i % 2 else "paused",
                to_state="paused" if i % 2 else "active",
                reason="bench",
                actor="system:bench",
                occurred_at=start + step * i + timedelta(microseconds=123),
            )
            for i in range(1, events)
        ]
    )
    other = Subscription.objects.select_related("plan_version").first()
    subscription = Subscription.objects.create(
        deployment=deployment,
        plan_version=other.plan_version,
        status="active",
        current_period_start=start.date(),
        current_period_end=datetime(2026, 2, 1, tzinfo=UTC).date(),
        created_at=created,
    )
    for addon in SubscriptionAddon.objects.order_by("id")[:1]:
        for attached in (created, start + timedelta(days=9, hours=5)):
            SubscriptionAddon.objects.create(
                subscription=subscription,
                addon_id=addon.addon_id,
                code=addon.code,
                resource_kind=addon.resource_kind,
                qty=addon.qty,
                price_cents=addon.price_cents,
                currency=addon.currency,
                attached_at=attached,
            )
    return deployment


def bench_preview(events: int, calls: int) -> dict:
    from arcadia_cloud.db import fetch_rows
    from billing.selectors import subscription_to_preview, upcoming_statement
    from billing.shapes import draft_shape
    from catalog.models import PlanVersion
    from deployments.models import DeploymentEvent
    from subscriptions.models import PlanChange, SubscriptionAddon

    deployment = preview_history(events)
    sql("VACUUM ANALYZE")

    def preview():
        # what the upcoming route runs once the deployment is found
        subscription = subscription_to_preview(deployment.pk)
        return draft_shape(upcoming_statement(subscription))

    def floor():
        # the same SQL reads as `preview`, and nothing built from them
        subscription = subscription_to_preview(deployment.pk)
        fetch_rows(
            PlanVersion.objects.order_by().values_list(
                "id", "plan__code", "plan__name", "version", "price_cents", "currency"
            )
        )
        fetch_rows(
            DeploymentEvent.objects.filter(deployment_id__in=[deployment.pk])
            .order_by("deployment_id", "id")
            .values_list("deployment_id", "occurred_at", "to_state")
        )
        fetch_rows(
            PlanChange.objects.filter(subscription_id__in=[subscription.pk])
            .order_by("subscription_id", "id")
            .values_list("subscription_id", "changed_at", "from_version_id", "to_version_id")
        )
        fetch_rows(
            SubscriptionAddon.objects.filter(subscription_id__in=[subscription.pk])
            .order_by("subscription_id", "id")
            .values_list(
                "subscription_id",
                "id",
                "code",
                "qty",
                "resource_kind",
                "price_cents",
                "currency",
                "attached_at",
                "detached_at",
            )
        )

    shape = preview()
    print(
        f"preview: {events:,} state changes, {len(shape['lines'])} lines, "
        f"total {shape['total_cents']} {shape['currency']}; {calls} calls each"
    )
    for _ in range(20):  # warm-up: connections, caches
        preview()
        floor()
    timings: dict[str, list[float]] = {"preview": [], "floor": []}
    for _ in range(calls):
        for label, function in (("preview", preview), ("floor", floor)):
            started = time.perf_counter()
            function()
            timings[label].append((time.perf_counter() - started) * 1000)
    result = {"events": events, "calls": calls, "lines": len(shape["lines"])}
    for label, values in timings.items():
        values.sort()
        result[f"{label}_p50_ms"] = statistics.median(values)
        result[f"{label}_p99_ms"] = values[min(len(values) - 1, int(len(values) * 0.99))]
    print(
        f"preview: p50 {result['preview_p50_ms']:.2f} ms, p99 {result['preview_p99_ms']:.2f} ms "
        f"(target p50 <= 20 ms); floor (the same reads): p50 {result['floor_p50_ms']:.2f} ms, "
        f"p99 {result['floor_p99_ms']:.2f} ms"
    )
    return result


def export_child(url: str, period: str, fmt: str) -> None:
    """In a fresh process: export `period` to a scratch file, print peak RSS (KiB) and time."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SECRET_KEY", "bench-export")
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcadia_cloud.settings")
    import django

    django.setup()
    from django.core.management import call_command

    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, f"statements.{fmt}")
        started = time.perf_counter()
        call_command(
            "export_statements",
            f"--period={period}",
            f"--format={fmt}",
            f"--output={path}",
            stderr=StringIO(),
        )
        seconds = time.perf_counter() - started
        size = os.path.getsize(path)
    print(f"{peak_rss_kib()} {seconds} {size}")


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries
    ru_maxrss over exec from the forking parent, so a child of a large
    benchmark process would report the parent's size."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_export_child(url: str, period: str, fmt: str) -> tuple[float, float, int]:
    done = subprocess.run(
        [sys.executable, __file__, "--export-child", url, period, fmt],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    peak_kib, seconds, size = done.stdout.split()
    return int(peak_kib) / 1024, float(seconds), int(size)


def bench_export(url: str, rows: int, small: int) -> dict:
    # `small` statements in December 2025, copied from January's, beside January's `rows`
    sql(
        "INSERT INTO billing_statement (subscription_id, deployment_id, period_start, "
        "period_end, currency, lines, total_cents, closed_at) "
        "SELECT subscription_id, deployment_id, DATE '2025-12-01', DATE '2026-01-01', "
        "currency, lines, total_cents, closed_at FROM billing_statement "
        "WHERE period_start = DATE '2026-01-01' ORDER BY id LIMIT %(small)s",
        {"small": small},
    )
    sql("VACUUM ANALYZE")
    result: dict = {"small": small, "large": rows}
    for fmt in ("csv", "jsonl"):
        small_mib, _, _ = run_export_child(url, "2025-12", fmt)
        large_mib, large_s, size = run_export_child(url, "2026-01", fmt)
        result[fmt] = {
            "small_rss_mib": small_mib,
            "large_rss_mib": large_mib,
            "growth_mib": large_mib - small_mib,
            "large_s": large_s,
            "large_bytes": size,
        }
        print(
            f"export {fmt}: peak RSS {small_mib:.1f} MiB for {small:,} statements, "
            f"{large_mib:.1f} MiB for {rows:,} ({large_mib - small_mib:+.1f} MiB, target "
            f"< 50 MiB); {rows:,} statements in {large_s:.2f}s ({size / 2**20:.1f} MiB written)"
        )
    return result


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--export-child":
        export_child(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="10,000 rows, 1 run, 50 calls")
    parser.add_argument(
        "--parts",
        default="clock,export,preview",
        help="which measurements, comma-separated (default all: clock,export,preview)",
    )
    args = parser.parse_args()
    if args.quick:
        args.rows, args.runs, args.calls = 10_000, 1, 50

    with scratch_database("billing") as url:
        setup_django(url)
        from django.db import connection

        connection.ensure_connection()  # autocommit: each statement its own transaction
        build(args.rows)
        result = {}
        if "clock" in args.parts:
            result["clock"] = bench_clock(args.rows, args.runs)
        else:
            reopen()
            time_baseline()  # the statements the export reads
            fingerprint(args.rows)
        if "export" in args.parts:
            result["export"] = bench_export(url, args.rows, min(1_000, args.rows // 10))
        if "preview" in args.parts:
            result["preview"] = bench_preview(args.events, args.calls)
        emit(result)


if __name__ == "__main__":
    main()
