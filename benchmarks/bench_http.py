"""HTTP under gunicorn: show, list(50) and transition against GET /api/v1/me
(same authentication, trivial work), measured in the same run.

gunicorn serves `arcadia_cloud.wsgi` as production would (DEBUG off, a
SECRET_KEY, persistent database connections); wrk drives it over loopback
at 16 keep-alive connections. wrk comes from Debian: the script installs it
with apt-get when it is missing (root), or asks you to. Each endpoint runs
`--runs` times for `--seconds`, endpoints interleaved; the figures are
medians, and each ratio is the median of per-run ratios to /me.

    python benchmarks/bench_http.py [--workers 3] [--threads 4] [--seconds 8] [--runs 3]
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
  local path = "/api/v1/deployments/" .. ids[offset + i + 1] .. "/transition"
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
    }
    cmd = [
        str(Path(sys.executable).with_name("gunicorn")),
        "arcadia_cloud.wsgi",
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
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": int(bad.group(1)) if bad else 0,
        # "connect 0, read 0, write 0, timeout 3": wrk leaves these requests
        # out of its latency figures, so they are counted and reported
        "socket_errors": sum(int(n) for n in re.findall(r"\d+", errors.group(1))) if errors else 0,
    }


def reset_pool(ids: list[str]) -> None:
    """Every pool deployment back to `active` before a transition run, so the
    script's first pass (`paused`) is a valid move for each. A benchmark's
    given step: a queryset update, not the service, and no event."""
    from django.db import connections

    from deployments.models import Deployment

    Deployment.objects.filter(pk__in=ids).update(state="active")
    connections.close_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", 3)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", 4)))
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    wrk = ensure_wrk()

    with scratch_database("http") as url:
        setup_django(url)
        import apidata

        data = apidata.build(events=25, deployments=200, transition_pool=1024)
        from django.db import connections

        connections.close_all()
        base = f"http://127.0.0.1:{PORT}/api/v1"
        with tempfile.TemporaryDirectory() as tmp:
            lua = Path(tmp) / "transition.lua"
            lua.write_text(
                TRANSITION_LUA.replace("{IDS}", json.dumps(data.transition_ids)[1:-1].join("{}"))
                .replace("{PER_THREAD}", str(len(data.transition_ids) // 2))
                .replace("{TOKEN}", data.token)
            )
            endpoints = [
                ("me", f"{base}/me", None),
                (f"show ({data.show_events} events)", f"{base}/deployments/{data.show_id}", None),
                ("list(50)", f"{base}/deployments?limit=50", None),
                ("transition", f"{base}/deployments/{data.transition_ids[0]}", str(lua)),
            ]
            kind = f"gthread {args.workers}x{args.threads}" if args.threads > 1 else "sync"
            print(
                f"http: gunicorn {args.workers} workers ({kind}), wrk {CONNECTIONS} connections, "
                f"{args.runs} x {args.seconds}s per endpoint"
                + ("" if data.subscription else " (show without a subscription)")
            )
            server = start_gunicorn(url, args.workers, args.threads)
            try:
                run_wrk(wrk, f"{base}/me", data.token, 2, None)  # warm every worker
                samples: dict[str, list[dict]] = {name: [] for name, _, _ in endpoints}
                for run in range(args.runs):
                    for name, target, script in endpoints:
                        if script:
                            reset_pool(data.transition_ids)
                        result = run_wrk(wrk, target, data.token, args.seconds, script)
                        samples[name].append(result)
                        print(
                            f"  run {run + 1}: {name:18s} {result['rps']:8.1f} req/s  "
                            f"p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:7.2f} ms"
                            + (f"  non-2xx {result['non_2xx']}" if result["non_2xx"] else "")
                            + (
                                f"  socket errors {result['socket_errors']}"
                                if result["socket_errors"]
                                else ""
                            )
                        )
            finally:
                stop(server)
        rows = []
        for name, _, _ in endpoints:
            # The ratio is paired: each run's figure over the /me figure of the
            # same run (seconds apart), then the median of those ratios, so
            # load from elsewhere on the machine hits both sides of each pair.
            paired = [
                mine["rps"] / me["rps"]
                for mine, me in zip(samples[name], samples["me"], strict=True)
            ]
            rows.append(
                {
                    "endpoint": name,
                    "rps": median([s["rps"] for s in samples[name]]),
                    "p50_ms": median([s["p50_ms"] for s in samples[name]]),
                    "p99_ms": median([s["p99_ms"] for s in samples[name]]),
                    "ratio_to_me": median(paired),
                    "non_2xx": sum(s["non_2xx"] for s in samples[name]),
                    "socket_errors": sum(s["socket_errors"] for s in samples[name]),
                }
            )
        print("http medians:")
        for row in rows:
            print(
                f"  {row['endpoint']:18s} {row['rps']:8.1f} req/s  {row['ratio_to_me']:6.1%} of /me"
                f"  p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:7.2f} ms"
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
