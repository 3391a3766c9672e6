"""`make bench`: run every benchmark, each in its own process and scratch
database, then print one markdown table (also written to build/bench.md) that
can be pasted into the README.

    python benchmarks/run_all.py [--quick]
"""

from __future__ import annotations

import argparse
import sys

from common import ROOT, machine, run_script


def table(m: dict, batch: dict, http: dict, queries: dict) -> str:
    lines = [
        f"Measured {m['date']} on {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, "
        f"PostgreSQL {m['postgresql']}, Python {m['python']}. Medians of {batch['runs']} "
        f"(batch) and {http['runs']} (HTTP) runs; "
        "each figure next to its baseline measured in the same run.",
        "",
        "| benchmark | measured | baseline (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    ratio = batch["ratio"]
    lines.append(
        f"| batch: `transition_deployments` {batch['rows']:,} past_due → suspended "
        f"(defaults: chunks of {batch['batch_size']}, {batch['workers']} workers) "
        f"| {batch['command_s']:.2f} s | one raw-SQL UPDATE…RETURNING + INSERT: "
        f"{batch['raw_s']:.2f} s | {ratio:.2f}x | ≤ 1.25x | {'yes' if ratio <= 1.25 else 'no'} |"
    )
    one = batch["one_worker_ratio"]
    lines.append(
        f"| batch, same with `--workers 1` (for comparison) | {batch['one_worker_s']:.2f} s "
        f"| the same raw-SQL statement | {one:.2f}x | (comparison only) | n/a |"
    )
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
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller and shorter (a smoke run)")
    args = parser.parse_args()
    quick_batch = ["--rows=10000", "--runs=1"] if args.quick else []
    quick_http = ["--seconds=3", "--runs=1"] if args.quick else []

    m = machine()
    print(f"== machine: {m}")
    print("== queries")
    queries = run_script("bench_queries.py")
    print("== batch")
    batch = run_script("bench_batch.py", *quick_batch)
    print("== http")
    http = run_script("bench_http.py", *quick_http)

    text = table(m, batch, http, queries)
    out = ROOT / "build" / "bench.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print()
    print(text)
    print(f"(written to {out.relative_to(ROOT)})")


if __name__ == "__main__":
    sys.exit(main())
