"""Plan migration: `migrate_plan_version` moving N subscriptions from one plan
version to the next against raw SQL writing the same rows (the floor), same run.

The baseline is ONE statement: `WITH moved AS (UPDATE subscriptions ...
RETURNING *), changes AS (INSERT INTO plan changes ... RETURNING ...) INSERT
INTO feed_event ...`: the new version on every subscription, one `PlanChange`
and one `subscription.plan_changed` event (the same data, built in SQL) each,
with no currency or quota rule, no chunking and no row locks, in one
transaction. The command runs in a child process (Django start-up excluded
from its time) with `--workers 1`, its default. Before every run the data is
rebuilt from scratch; baseline and command runs alternate.

    python benchmarks/bench_migrate.py [--rows 100000] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from io import StringIO

from common import ROOT, emit, median, scratch_database, setup_django

TENANTS = 100
PLAN = "studio"
ACTOR = "system:migrate_plan_version"
REASON = "price change"
TARGET = 1.5

BUILD = """
INSERT INTO arcadia_cloud_tenant (id, slug, name, created_at)
SELECT gen_random_uuid(), 'bench-' || g, 'Bench ' || g, now()
FROM generate_series(1, %(tenants)s) AS g;

INSERT INTO deployments_deployment
    (id, tenant_id, slug, display_name, region, state, state_since, llm_mode,
     billing_action_suspended, template_code, template_version, created_at, updated_at)
SELECT gen_random_uuid(), t.ids[1 + g %% %(tenants)s], 'app-' || g, 'App ' || g,
       (ARRAY['us-east-1','us-west-2','eu-west-1','eu-central-1','ap-southeast-1'])[1 + g %% 5],
       'active', now() - interval '30 days', 'managed', false, NULL, NULL,
       now() - interval '90 days', now() - interval '30 days'
FROM generate_series(1, %(rows)s) AS g,
     (SELECT array_agg(id ORDER BY slug) AS ids FROM arcadia_cloud_tenant) AS t;

INSERT INTO subscriptions_subscription
    (status, current_period_start, current_period_end, created_at, updated_at,
     deployment_id, plan_version_id)
SELECT 'active', date_trunc('month', now())::date,
       (date_trunc('month', now()) + interval '1 month')::date,
       now() - interval '90 days', now() - interval '30 days', id, %(source)s
FROM deployments_deployment ORDER BY created_at, id;
"""


def versions() -> tuple[int, int, int, int]:
    """(source pk, target pk, source number, target number): the plan's live
    version and a new one in the same currency, published."""
    from catalog.models import Plan
    from catalog.services import create_plan_version, publish_plan_version

    plan = Plan.objects.get(code=PLAN)
    source = plan.versions.exclude(published_at=None).order_by("-version").first()
    target = publish_plan_version(
        plan_version=create_plan_version(
            plan=plan,
            price_cents=source.price_cents + 500,
            currency=source.currency,
            included_quotas=source.included_quotas,
        )
    )
    return source.pk, target.pk, source.version, target.version


def baseline_sql(source: int, target: int) -> str:
    from subscriptions.shapes import subscription_shape_sql

    def version_data(pk: str) -> str:
        return (
            f"(SELECT jsonb_build_object('plan_version_id', v.id, 'plan_code', p.code, "
            "'plan_version', v.version, 'price_cents', v.price_cents, 'currency', v.currency) "
            f"FROM catalog_planversion v JOIN catalog_plan p ON p.id = v.plan_id WHERE v.id = {pk})"
        )

    shared = (
        f"jsonb_build_object('from_version', {version_data(str(source))}, "
        f"'to_version', {version_data(str(target))}, 'notes', '{REASON}', "
        f"'actor', '{ACTOR}', 'request_id', '')"
    )
    return f"""
WITH moved AS (
    UPDATE subscriptions_subscription SET plan_version_id = {target}, updated_at = now()
    WHERE plan_version_id = {source} AND status IN ('active', 'paused')
    RETURNING *
), changes AS (
    INSERT INTO subscriptions_planchange
        (subscription_id, from_version_id, to_version_id, changed_at, actor, request_id)
    SELECT id, {source}, {target}, now(), '{ACTOR}', '' FROM moved ORDER BY id
    RETURNING id, subscription_id, changed_at, request_id
)
INSERT INTO feed_event (type, tenant_id, deployment_id, occurred_at, data, request_id)
SELECT 'subscription.plan_changed', d.tenant_id, s.deployment_id, pc.changed_at,
       {shared} || jsonb_build_object('plan_change_id', pc.id, 'subscription',
       {subscription_shape_sql("s", "v", "p")}), pc.request_id
FROM changes pc
JOIN moved s ON s.id = pc.subscription_id
JOIN deployments_deployment d ON d.id = s.deployment_id
JOIN catalog_planversion v ON v.id = s.plan_version_id
JOIN catalog_plan p ON p.id = v.plan_id
ORDER BY pc.id
"""


def rebuild(rows: int, source: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE feed_event, subscriptions_planchange, subscriptions_subscription, "
            "deployments_deploymentevent, deployments_deployment, arcadia_cloud_tenant CASCADE"
        )
        cursor.execute(BUILD, {"rows": rows, "tenants": TENANTS, "source": source})
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


def check_moved(rows: int, target: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM subscriptions_subscription WHERE plan_version_id = %s),"
            " (SELECT count(DISTINCT subscription_id) FROM subscriptions_planchange),"
            " (SELECT count(*) FROM subscriptions_planchange),"
            " (SELECT count(*) FROM feed_event WHERE type = 'subscription.plan_changed')",
            [target],
        )
        moved, subscriptions, changes, feed = cursor.fetchone()
    if not moved == subscriptions == changes == feed == rows:
        raise SystemExit(
            f"expected {rows} moved with one plan change and one event each; "
            f"got {moved} / {subscriptions} / {changes} / {feed}"
        )


def time_baseline(source: int, target: int) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(baseline_sql(source, target))
    return time.perf_counter() - started


def time_command(url: str, numbers: tuple[int, int], workers: int) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, str(numbers[0]), str(numbers[1]), str(workers)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds"]


def child(url: str, source: int, target: int, workers: int) -> None:
    os.environ.update({"DATABASE_URL": url, "DEBUG": "false", "CI": "1"})
    os.environ.setdefault("SECRET_KEY", "bench-" + os.urandom(16).hex())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcadia_cloud.settings")
    import django

    django.setup()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command(
        "migrate_plan_version",
        f"--plan={PLAN}",
        f"--from-version={source}",
        f"--to-version={target}",
        f"--reason={REASON}",
        f"--workers={workers}",
        stdout=StringIO(),
    )
    print(json.dumps({"seconds": time.perf_counter() - started}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10,000 rows, one run")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.runs = 10_000, 1

    with scratch_database("migrate") as url:
        setup_django(url)
        from django.core.management import call_command
        from django.db import connection

        call_command("seed_catalog", verbosity=0)
        source, target, source_number, target_number = versions()
        connection.ensure_connection()
        print(
            f"plan migration: {args.rows:,} subscriptions {PLAN} v{source_number} -> "
            f"v{target_number}, {args.runs} runs; command with --workers 1 against raw SQL"
        )
        series: dict[str, list[float]] = {"raw SQL": [], "command": []}
        for run in range(1, args.runs + 1):
            for label, times in series.items():
                rebuild(args.rows, source)
                if label == "raw SQL":
                    seconds = time_baseline(source, target)
                else:
                    seconds = time_command(url, (source_number, target_number), 1)
                check_moved(args.rows, target)
                times.append(seconds)
                print(f"  run {run}: {label:8s} {seconds:7.3f}s")
        raw, cmd = median(series["raw SQL"]), median(series["command"])
        print(
            f"plan migration: command {cmd:.3f}s, raw SQL {raw:.3f}s (medians), "
            f"ratio {cmd / raw:.2f}x (target <= {TARGET}x)"
        )
        emit(
            {
                "rows": args.rows,
                "runs": args.runs,
                "command_s": cmd,
                "raw_s": raw,
                "ratio": cmd / raw,
                "target": TARGET,
            }
        )


if __name__ == "__main__":
    main()
