"""`make bench`: run every benchmark, each in its own process and scratch
database, then print one markdown table (also written to build/bench.md) that
can be pasted into the README.

    python benchmarks/run_all.py [--quick]
"""

from __future__ import annotations

import argparse
import sys

from common import ROOT, machine, run_script


def billing_rows(billing: dict) -> list[str]:
    """The billing benchmark's rows: the clock against raw SQL, the preview
    against its reads, the export's peak RSS at 1k and at N statements."""
    clock, preview, export = billing["clock"], billing["preview"], billing["export"]
    ratio = clock["ratio"]
    rows = [
        f"| billing clock: `run_billing_cycle` closing {clock['rows']:,} subscriptions' "
        f"periods (defaults: chunks of 1000, 2 workers) | {clock['clock_s']:.2f} s "
        "| one raw-SQL INSERT…SELECT of the "
        f"same statements + UPDATE + INSERT of the events: {clock['raw_s']:.2f} s "
        f"| {ratio:.2f}x | ≤ 2x | {'yes' if ratio <= 2 else 'no'} |",
        f"| billing clock, same with `--workers 1` (for comparison) | "
        f"{clock['one_worker_s']:.2f} s | the same raw SQL | {clock['one_worker_ratio']:.2f}x "
        "| (comparison only) | n/a |",
    ]
    p50 = preview["preview_p50_ms"]
    rows.append(
        f"| statement preview (`…/statements/upcoming`'s work), {preview['events']:,} "
        f"state changes, {preview['lines']:,} lines | p50 {p50:.1f} ms, "
        f"p99 {preview['preview_p99_ms']:.1f} ms | the same SQL reads alone: p50 "
        f"{preview['floor_p50_ms']:.1f} ms, p99 {preview['floor_p99_ms']:.1f} ms "
        f"| {p50 / preview['floor_p50_ms']:.2f}x | p50 ≤ 20 ms | {'yes' if p50 <= 20 else 'no'} |"
    )
    for fmt in ("csv", "jsonl"):
        e = export[fmt]
        growth = e["growth_mib"]
        rows.append(
            f"| `export_statements --format {fmt}`, peak RSS for {export['large']:,} "
            f"statements ({e['large_s']:.1f} s) | {e['large_rss_mib']:.1f} MiB | "
            f"{export['small']:,} statements: {e['small_rss_mib']:.1f} MiB | "
            f"{growth:+.1f} MiB | within 50 MB | {'yes' if growth * 1.048576 < 50 else 'no'} |"
        )
    return rows


def batch_rows(batch: dict) -> list[str]:
    """The batch's rows: each size against raw SQL writing the same rows, with
    --workers 1 and 2, and peak RSS."""
    targets = batch["targets"]
    lines = []
    for size in batch["sizes"]:
        rows = size["rows"]
        at_target = rows == batch["target_rows"]
        floor = f"one raw-SQL statement writing the same rows: {size['raw_s']:.2f} s"
        for workers, key, target in (
            (1, "one_worker", targets["one_worker"]),
            (2, "two_workers", targets["two_workers"]),
        ):
            ratio = size[f"{key}_ratio"]
            goal, met = "(comparison only)", "n/a"
            if at_target:
                goal, met = f"≤ {target:.2f}x", "yes" if ratio <= target else "no"
            lines.append(
                f"| batch: `transition_deployments` {rows:,} past_due → suspended, "
                f"`--workers {workers}` (chunks of {batch['batch_size']}) "
                f"| {size[f'{key}_s']:.2f} s, peak RSS {size[f'{key}_rss_mib']:.0f} MiB "
                f"| {floor} | {ratio:.2f}x | {goal} | {met} |"
            )
    growth = batch.get("rss_growth_mib")
    if growth is not None:
        limit = targets["rss_growth_mib"]
        lines.append(
            f"| batch: peak RSS growth from 10,000 to 500,000 rows | {growth:+.1f} MiB "
            f"| the 10,000-row run | n/a | ≤ {limit} MiB | {'yes' if growth <= limit else 'no'} |"
        )
    return lines


def migrate_row(migrate: dict) -> str:
    ratio = migrate["ratio"]
    return (
        f"| plan migration: `migrate_plan_version` {migrate['rows']:,} subscriptions "
        f"(`--workers 1`) | {migrate['command_s']:.2f} s | one raw-SQL statement writing the "
        f"same rows (new version, PlanChange, event): {migrate['raw_s']:.2f} s | {ratio:.2f}x "
        f"| ≤ {migrate['target']}x | {'yes' if ratio <= migrate['target'] else 'no'} |"
    )


def table(
    m: dict, batch: dict, http: dict, queries: dict, migrate: dict, billing: dict | None = None
) -> str:
    runs = {size["runs"] for size in batch["sizes"]}
    lines = [
        f"Measured {m['date']} on {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, "
        f"PostgreSQL {m['postgresql']}, Python {m['python']}. Medians of "
        f"{'/'.join(str(n) for n in sorted(runs, reverse=True))} (batch), "
        f"{migrate['runs']} (plan migration) and {http['runs']} (HTTP) runs; "
        "each figure next to its baseline measured in the same run.",
        "",
        "| benchmark | measured | baseline (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|",
        *batch_rows(batch),
        migrate_row(migrate),
    ]
    rows = {row["endpoint"]: row for row in http["endpoints"]}
    me = rows["me"]
    # endpoint -> (what it is compared with, the ratio, target text, met?)
    targets = {
        "me": ("me floor", "ratio_to_floor", "≥ 0.8x its floor (auth only)", 0.8),
        "show": ("me", "ratio_to_me", "≥ 0.45x /me", 0.45),
        "list(50)": ("me", "ratio_to_me", "≥ 0.45x /me", 0.45),
        "transition": ("transition floor", "ratio_to_floor", "≥ 0.75x its floor", 0.75),
    }

    def figures(row: dict) -> str:
        return (
            f"{row['rps']:.0f} req/s, p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
            f"CPU/request app {row['app_cpu_us']:,.0f} µs + PostgreSQL {row['db_cpu_us']:,.0f} µs"
        )

    for name, (against, key, label, minimum) in targets.items():
        row = rows[name]
        # A run with any non-2xx answer measured something else (errors are
        # cheap): it never counts as meeting a target.
        errors = row.get("non_2xx", 0) + row.get("socket_errors", 0)
        other = rows[against]
        extra = f"; {row['ratio_to_floor']:.2f}x its floor" if key == "ratio_to_me" else ""
        if name != "me" and key != "ratio_to_me":
            extra = f"; {row['ratio_to_me']:.2f}x /me"
        lines.append(
            f"| HTTP `{name}` | {figures(row)} | `{against}`: {figures(other)} "
            f"| {row[key]:.2f}x{extra} | {label} | "
            f"{'yes' if row[key] >= minimum and errors == 0 else 'no'}"
            + (f" ({row['non_2xx']} non-2xx answers)" if row.get("non_2xx") else "")
            + (f" ({row['socket_errors']} socket errors)" if row.get("socket_errors") else "")
            + " |"
        )
    transition = rows["transition"]
    lines.append(
        f"| HTTP `transition` p99 | {transition['p99_ms']:.1f} ms | `me` p99 {me['p99_ms']:.1f} ms "
        f"| {transition['p99_to_me']:.2f}x | ≤ 2x /me p99 | "
        f"{'yes' if transition['p99_to_me'] <= 2 else 'no'} |"
    )
    if billing:
        lines.extend(billing_rows(billing))
    for row in queries["queries"]:
        target = row["target"]
        constant = row["small"] == row["large"]
        ok = constant and (target is None or row["large"] <= target)
        lines.append(
            f"| queries per request `{row['endpoint']}` (auth included) | {row['large']} "
            f"(large data; {row['round_trips']} round trips) | {row['small']} (small data) | "
            f"{'constant' if constant else 'grows'} | "
            f"{f'≤ {target}, constant' if target else 'constant'} | {'yes' if ok else 'no'} |"
        )
    lines += [
        "",
        f"HTTP: {http['server']}, wrk at {http['connections']} keep-alive connections over "
        f"loopback on the same machine, {http['runs']} x {http['seconds']} s per endpoint "
        "and floor, interleaved; ratio = median of per-run ratios (endpoint / partner "
        "in the same run); a floor is a plain Django view that authenticates the same token "
        "and sends the same SQL through a cursor (benchmarks/floor_urls.py)"
        + ("" if http["subscription"] else "; show without a subscription")
        + ". Query counts: CaptureQueriesContext in-process, small data "
        f"({queries['small']['events']} events, {queries['small']['deployments']} "
        f"deployments) vs large ({queries['large']['events']} events, "
        f"{queries['large']['deployments']} deployments).",
    ]
    if billing:
        lines.append(
            f"Billing: the clock and its baseline are medians of {billing['clock']['runs']} "
            "alternating runs, each after the period is reopened, and the baseline's statements "
            "are checked identical to the clock's (count, sum, md5 of the lines); the preview "
            f"figures are over {billing['preview']['calls']} calls alternating with the floor; "
            "each export runs in a fresh process reporting its own peak RSS (VmHWM)."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller and shorter (a smoke run)")
    args = parser.parse_args()
    quick_batch = ["--quick"] if args.quick else []
    quick_http = ["--seconds=3", "--runs=1"] if args.quick else []

    m = machine()
    print(f"== machine: {m}")
    print("== queries")
    queries = run_script("bench_queries.py")
    print("== batch")
    batch = run_script("bench_batch.py", *quick_batch)
    print("== plan migration")
    migrate = run_script("bench_migrate.py", *(["--quick"] if args.quick else []))
    print("== billing")
    billing = run_script("bench_billing.py", *(["--quick"] if args.quick else []))
    print("== http")
    http = run_script("bench_http.py", *quick_http)

    text = table(m, batch, http, queries, migrate, billing)
    out = ROOT / "build" / "bench.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print()
    print(text)
    print(f"(written to {out.relative_to(ROOT)})")


if __name__ == "__main__":
    sys.exit(main())
