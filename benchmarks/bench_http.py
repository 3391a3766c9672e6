"""HTTP under gunicorn: me, show, list(50) and transition, each against its
floor and against GET /api/v1/me, measured in the same run.

A floor is a plain Django view (`floor_urls.py`, a bench-only URLconf served
through `floor_settings`; the product's URLconf has no such route) that
authenticates the same token and sends the same SQL through a cursor: what the
endpoint would cost if everything between its SQL and its JSON were free. The
floor of /me only authenticates. Endpoints and floors are interleaved, each
ratio is the median of per-run ratios (so load from elsewhere on the machine
hits both sides of each pair). CPU per request is read from /proc: the
gunicorn workers' and the PostgreSQL backends' user + system time over each
wrk run, divided by the requests it completed.

gunicorn serves `arcadia_cloud.wsgi` as production would (DEBUG off, a
SECRET_KEY, persistent database connections); wrk drives it over loopback
at 16 keep-alive connections. wrk comes from Debian: the script installs it
with apt-get when it is missing (root), or asks you to. Each endpoint runs
`--runs` times for `--seconds`, endpoints interleaved; the figures are
medians, and each ratio is the median of per-run ratios to /me.

    python benchmarks/bench_http.py [--workers 3] [--threads 4] [--seconds 8] [--runs 3]
                                    [--only show,list(50),transition]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import ROOT, emit, median, scratch_database, setup_django

PORT = int(os.environ.get("BENCH_PORT", "8121"))
CONNECTIONS = 16

# Transition: each wrk thread owns a slice of the pool and walks it round
# robin, sending `paused` on even passes and `active` on odd ones, so every
# request is a valid move and no two in-flight requests touch one deployment.
TRANSITION_LUA = """
local ids = {IDS}
local per_thread = {PER_THREAD}
-- wrk builds one request per thread that it never sends: that one must not
-- take a deployment's turn, or that deployment is sent the wrong move later.
local counter = -1
local offset = 0
local n_threads = 0

function setup(thread)
  thread:set("offset", n_threads * per_thread)
  n_threads = n_threads + 1
end

function init(args)
  offset = tonumber(wrk.thread:get("offset")) or 0
end

request = function()
  if counter < 0 then
    counter = 0
    return wrk.format("GET", "/healthz")
  end
  local i = counter % per_thread
  local pass = math.floor(counter / per_thread)
  counter = counter + 1
  local to_state = (pass % 2 == 0) and "paused" or "active"
  local path = "{PREFIX}/deployments/" .. ids[offset + i + 1] .. "/transition"
  return wrk.format("POST", path, {
    ["Authorization"] = "Bearer {TOKEN}",
    ["Content-Type"] = "application/json",
  }, '{"to_state":"' .. to_state .. '","reason":"bench"}')
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk from Debian (apt-get install wrk)")
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, timeout=600)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed for the HTTP benchmark: sudo apt-get install wrk")
    return found


def start_gunicorn(url: str, workers: int, threads: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": "ERROR",
        # The benchmark measures the request path, not the rate limiter: with
        # limits on, most requests would be cheap 429s (and are counted below).
        "ARCADIA_THROTTLE_READ": "off",
        "ARCADIA_THROTTLE_WRITE": "off",
        # The product's settings and routes, plus the floors' routes.
        "DJANGO_SETTINGS_MODULE": "floor_settings",
    }
    cmd = [
        str(Path(sys.executable).with_name("gunicorn")),
        "arcadia_cloud.wsgi",
        f"--pythonpath={ROOT / 'benchmarks'}",
        f"--bind=127.0.0.1:{PORT}",
        f"--workers={workers}",
        "--log-level=warning",
    ]
    if threads > 1:
        cmd += ["--worker-class=gthread", f"--threads={threads}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    stop(proc)
    raise SystemExit("gunicorn did not answer /healthz within 30 s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNIT[unit]


def run_wrk(wrk: str, url: str, token: str, seconds: int, script: str | None) -> dict:
    cmd = [
        wrk,
        "-t2",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        "--timeout=10s",
        "-H",
        f"Authorization: Bearer {token}",
    ]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(
        [*cmd, url], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": requests,
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": int(bad.group(1)) if bad else 0,
        # "connect 0, read 0, write 0, timeout 3": wrk leaves these requests
        # out of its latency figures, so they are counted and reported
        "socket_errors": sum(int(n) for n in re.findall(r"\d+", errors.group(1))) if errors else 0,
    }


_TICK_US = 1_000_000 / os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    """utime + stime of `pid` (clock ticks); 0 for a process that is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def gunicorn_workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def database_backends(database: str) -> list[int]:
    from common import _admin_connection

    with _admin_connection() as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
            [database],
        ).fetchall()
    return [pid for (pid,) in rows]


class CpuMeter:
    """CPU time of the gunicorn workers and of the database's backends over
    one wrk run (backends opened during the run count from zero)."""

    def __init__(self, master: int, database: str):
        self.master, self.database = master, database

    def snapshot(self) -> tuple[dict[int, int], dict[int, int]]:
        app = {pid: _cpu_ticks(pid) for pid in gunicorn_workers(self.master)}
        db = {pid: _cpu_ticks(pid) for pid in database_backends(self.database)}
        return app, db

    @staticmethod
    def spent(before: dict[int, int], after: dict[int, int]) -> float:
        return sum(ticks - before.get(pid, 0) for pid, ticks in after.items()) * _TICK_US


def vacuum_analyze() -> None:
    """The tables as autovacuum keeps them in service: planner statistics
    for the rows the benchmark built, and the dead rows its transitions
    leave behind gone. Run after the data is built and at the start of each
    round (about a minute apart: autovacuum's default naptime), since the
    server a benchmark meets may run with autovacuum off. Without it, the
    planner sees the tables as empty (the list's page read all 1,224 of the
    tenant's rows and sorted them, ~2.5x its analyzed cost), and every
    index-only count visits the heap."""
    from django.db import connection, connections

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    connections.close_all()


def reset_pool(ids: list[str]) -> None:
    """Every pool deployment back to `active` before a transition run, so the
    script's first pass (`paused`) is a valid move for each. A benchmark's
    given step: a queryset update, not the service, and no event."""
    from django.db import connections

    from deployments.models import Deployment

    Deployment.objects.filter(pk__in=ids).update(state="active")
    connections.close_all()


#: (endpoint, its floor); /me's floor only authenticates.
PAIRS = (
    ("me", "me floor"),
    ("show", "show floor"),
    ("list(50)", "list(50) floor"),
    ("transition", "transition floor"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", 3)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", 4)))
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated endpoints (show, list(50), transition) to measure "
        "with their floors, besides /me and its floor (default: all)",
    )
    args = parser.parse_args()
    only = {"me", *filter(None, args.only.split(","))} if args.only else None
    pairs = [pair for pair in PAIRS if only is None or pair[0] in only]
    wrk = ensure_wrk()

    with scratch_database("http") as url:
        setup_django(url)
        import apidata

        data = apidata.build(events=25, deployments=200, transition_pool=1024)
        vacuum_analyze()
        server_root = f"http://127.0.0.1:{PORT}"
        with tempfile.TemporaryDirectory() as tmp:
            scripts = {}
            for label, prefix in (("product", "/api/v1"), ("floor", "/api/floor/v1")):
                lua = Path(tmp) / f"transition-{label}.lua"
                lua.write_text(
                    TRANSITION_LUA.replace(
                        "{IDS}", json.dumps(data.transition_ids)[1:-1].join("{}")
                    )
                    .replace("{PER_THREAD}", str(len(data.transition_ids) // 2))
                    .replace("{TOKEN}", data.token)
                    .replace("{PREFIX}", prefix)
                )
                scripts[label] = str(lua)
            show = f"deployments/{data.show_id}"
            first = data.transition_ids[0]
            # Interleaved: each endpoint right next to its floor.
            endpoints = [
                ("me", f"{server_root}/api/v1/me", None),
                ("me floor", f"{server_root}/api/floor/me", None),
                ("show", f"{server_root}/api/v1/{show}", None),
                ("show floor", f"{server_root}/api/floor/v1/{show}", None),
                ("list(50)", f"{server_root}/api/v1/deployments?limit=50", None),
                ("list(50) floor", f"{server_root}/api/floor/v1/deployments?limit=50", None),
                ("transition", f"{server_root}/api/v1/deployments/{first}", scripts["product"]),
                (
                    "transition floor",
                    f"{server_root}/api/floor/v1/deployments/{first}",
                    scripts["floor"],
                ),
            ]
            wanted = {label for pair in pairs for label in pair}
            endpoints = [e for e in endpoints if e[0] in wanted]
            kind = f"gthread {args.workers}x{args.threads}" if args.threads > 1 else "sync"
            print(
                f"http: gunicorn {args.workers} workers ({kind}), wrk {CONNECTIONS} connections, "
                f"{args.runs} x {args.seconds}s per endpoint and floor"
                + ("" if data.subscription else " (show without a subscription)")
            )
            server = start_gunicorn(url, args.workers, args.threads)
            meter = CpuMeter(server.pid, url.rsplit("/", 1)[1])
            try:
                # warm every worker, and every floor's captured SQL
                for _name, target, script in endpoints:
                    if script is None:
                        run_wrk(wrk, target, data.token, 1, None)
                samples: dict[str, list[dict]] = {name: [] for name, _, _ in endpoints}
                for run in range(args.runs):
                    vacuum_analyze()
                    for name, target, script in endpoints:
                        if script:
                            reset_pool(data.transition_ids)
                        before = meter.snapshot()
                        result = run_wrk(wrk, target, data.token, args.seconds, script)
                        after = meter.snapshot()
                        done = max(1, result["requests"])
                        result["app_cpu_us"] = meter.spent(before[0], after[0]) / done
                        result["db_cpu_us"] = meter.spent(before[1], after[1]) / done
                        samples[name].append(result)
                        print(
                            f"  run {run + 1}: {name:18s} {result['rps']:8.1f} req/s  "
                            f"p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:7.2f} ms  "
                            f"cpu app {result['app_cpu_us']:6.0f} us  "
                            f"db {result['db_cpu_us']:5.0f} us"
                            + (f"  non-2xx {result['non_2xx']}" if result["non_2xx"] else "")
                            + (
                                f"  socket errors {result['socket_errors']}"
                                if result["socket_errors"]
                                else ""
                            ),
                            flush=True,
                        )
            finally:
                stop(server)
        rows = []
        for name, floor in pairs:
            for label in (name, floor):
                mine = samples[label]
                # Paired: each run's figure over its partner's in the same run
                # (seconds apart), then the median of those ratios.
                rows.append(
                    {
                        "endpoint": label,
                        "rps": median([s["rps"] for s in mine]),
                        "p50_ms": median([s["p50_ms"] for s in mine]),
                        "p99_ms": median([s["p99_ms"] for s in mine]),
                        "app_cpu_us": median([s["app_cpu_us"] for s in mine]),
                        "db_cpu_us": median([s["db_cpu_us"] for s in mine]),
                        "ratio_to_floor": median(
                            [a["rps"] / b["rps"] for a, b in zip(mine, samples[floor], strict=True)]
                        ),
                        "ratio_to_me": median(
                            [a["rps"] / b["rps"] for a, b in zip(mine, samples["me"], strict=True)]
                        ),
                        "p99_to_me": median(
                            [
                                a["p99_ms"] / b["p99_ms"]
                                for a, b in zip(mine, samples["me"], strict=True)
                            ]
                        ),
                        "non_2xx": sum(s["non_2xx"] for s in mine),
                        "socket_errors": sum(s["socket_errors"] for s in mine),
                    }
                )
        print("http medians (ratios: median of per-run ratios):")
        for row in rows:
            print(
                f"  {row['endpoint']:18s} {row['rps']:8.1f} req/s  "
                f"{row['ratio_to_floor']:5.2f}x floor  {row['ratio_to_me']:5.2f}x /me  "
                f"p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:7.2f} ms "
                f"({row['p99_to_me']:4.2f}x /me)  "
                f"cpu/request app {row['app_cpu_us']:6.0f} us db {row['db_cpu_us']:5.0f} us"
            )
        emit(
            {
                "server": f"gunicorn {args.workers} workers, {kind}",
                "connections": CONNECTIONS,
                "seconds": args.seconds,
                "runs": args.runs,
                "subscription": data.subscription,
                "endpoints": rows,
            }
        )


if __name__ == "__main__":
    main()
