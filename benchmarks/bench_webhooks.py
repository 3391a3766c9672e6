"""Webhook deliveries per second: 2 `deliver_webhooks` processes to a loopback
receiver, against plain POSTs from one process with the same client in the
same run.

Each run commits `--events` feed events (spread over `--deployments`
deployments, so per-deployment order holds a few in flight at a time) for a
fresh endpoint, then starts the workers; the receiver (its own process,
`http.server` with keep-alive) verifies every request with the
`standardwebhooks` library and timestamps it. Deliveries/s is counted from
the first request to the last, so the workers' start-up (Django import, the
dispatch of the run's events into deliveries) is not in it; the wall time
from the workers' start to the last delivery is printed beside it. The
baseline sends the same number of POSTs of the same body through
`webhooks.sender.Sender` (urllib3 keep-alive pool) from `--concurrency` x 2
threads of one process: no database, no signing, no dispatch.

    python benchmarks/bench_webhooks.py [--events 10000] [--runs 3] [--workers 2]
        [--concurrency 8] [--port 8122] [--database NAME]

Works in a scratch PostgreSQL database (`arcadia_bench_webhooks_<pid>`, or
--database), created and dropped, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime

from common import ROOT, _admin_connection, database_url, emit, machine, median, setup_django

TARGET_PER_S = 500


# ---- the receiver (runs in its own process: `--serve PORT`) ------------------------------


def serve(port: int) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from standardwebhooks import Webhook, WebhookVerificationError

    state = {"count": 0, "bad": 0, "first": None, "last": None, "hooks": [], "ids": set()}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without TCP_NODELAY the
        # second waits for the client's delayed ACK (40 ms).
        disable_nagle_algorithm = True

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/control/trust":
                with lock:
                    state.update(count=0, bad=0, first=None, last=None, ids=set())
                    state["hooks"] = [Webhook(body.decode())] if body else []
                return self._answer(200, b"{}")
            ok = True
            if state["hooks"]:
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    state["hooks"][0].verify(body, headers)
                except WebhookVerificationError:
                    ok = False
            now = time.time()
            with lock:
                state["count"] += 1
                state["bad"] += 0 if ok else 1
                state["ids"].add(self.headers.get("webhook-id"))
                state["first"] = state["first"] or now
                state["last"] = now
            self._answer(200, b'{"ok":true}')

        def do_GET(self):
            with lock:
                stats = {k: v for k, v in state.items() if k not in ("hooks", "ids")}
                stats["distinct_ids"] = len(state["ids"])
            self._answer(200, json.dumps(stats).encode())

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


def control(port: int, path: str, body: bytes | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, method="POST" if body is not None else "GET"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def start_receiver(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port)], cwd=ROOT, start_new_session=True
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            control(port, "/stats")
            return proc
        time.sleep(0.1)
    raise SystemExit("the receiver did not start")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# ---- one run --------------------------------------------------------------------------------


def prepare(events: int, deployments: int, port: int) -> tuple[str, int]:
    """A fresh endpoint (the previous run's deleted) and `events` committed
    events for it: (secret, count)."""
    from django.db import transaction

    from arcadia_cloud.actors import Actor
    from arcadia_cloud.models import Tenant
    from feed.record import NewEvent, record_events
    from webhooks.models import WebhookEndpoint
    from webhooks.services import create_endpoint

    tenant, _ = Tenant.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    WebhookEndpoint.objects.all().delete()
    registered = create_endpoint(
        actor=Actor.system("system:bench"),
        url=f"http://127.0.0.1:{port}/hook",
        tenant_id=tenant.pk,
    )
    ids = [uuid.uuid4() for _ in range(deployments)]
    rows = [
        NewEvent(
            type="deployment.transitioned",
            tenant_id=tenant.pk,
            deployment_id=ids[i % deployments],
            data={"from_state": "active", "to_state": "paused", "step": i // deployments},
        )
        for i in range(events)
    ]
    with transaction.atomic():
        record_events(rows)
    return registered.secret, events


def deliver(url: str, port: int, workers: int, concurrency: int, expected: int) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "LOG_LEVEL": "ERROR",
        "ARCADIA_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
    }
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "deliver_webhooks", f"--concurrency={concurrency}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for _ in range(workers)
    ]
    try:
        deadline = time.monotonic() + max(120, expected / 50)
        while True:
            stats = control(port, "/stats")
            if stats["count"] >= expected:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"only {stats['count']} of {expected} deliveries arrived")
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a worker exited")
            time.sleep(0.1)
        wall = time.monotonic() - started
    finally:
        for proc in procs:
            stop(proc)
    shares = []
    for proc in procs:
        out = proc.stdout.read() if proc.stdout else ""
        found = re.search(r"delivered: (\d+)", out)
        shares.append(int(found.group(1)) if found else None)
    span = stats["last"] - stats["first"]
    return {
        "deliveries": stats["count"],
        "distinct_ids": stats["distinct_ids"],
        "bad_signatures": stats["bad"],
        "per_s": (stats["count"] - 1) / span if span > 0 else 0.0,
        "wall_s": wall,
        "per_worker": shares,
    }


def baseline(port: int, count: int, threads: int) -> dict:
    """The same number of POSTs of one envelope-sized body, same client, one process."""
    from webhooks.sender import Sender

    sender = Sender(connections_per_host=threads)
    body = json.dumps({"id": "evt_1", "data": {"from_state": "active", "to_state": "paused"}})
    body = (body + " " * max(0, 700 - len(body))).encode()
    control(port, "/control/trust", b"")
    remaining = iter(range(count))
    lock = threading.Lock()
    failures = []

    def run() -> None:
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            outcome = sender.post(f"http://127.0.0.1:{port}/hook", body, {"webhook-id": "evt_1"})
            if not outcome.ok:
                failures.append(outcome)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    sender.close()
    stats = control(port, "/stats")
    span = stats["last"] - stats["first"]
    return {
        "posts": stats["count"],
        "per_s": (stats["count"] - 1) / span,
        "failures": len(failures),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--deployments", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "8122")))
    parser.add_argument("--database", default=f"arcadia_bench_webhooks_{os.getpid()}")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    os.environ["ARCADIA_WEBHOOK_ALLOW_HOSTS"] = "127.0.0.1"
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.database}"')
    receiver = None
    try:
        url = database_url(args.database)
        setup_django(url)
        receiver = start_receiver(args.port)
        runs, baselines = [], []
        for run in range(args.runs):
            secret, count = prepare(args.events, args.deployments, args.port)
            control(args.port, "/control/trust", secret.encode())
            measured = deliver(url, args.port, args.workers, args.concurrency, count)
            base = baseline(args.port, count, args.concurrency * args.workers)
            runs.append(measured)
            baselines.append(base)
            print(
                f"  run {run + 1}: {measured['per_s']:,.0f} deliveries/s "
                f"({measured['deliveries']:,} in {measured['wall_s']:.1f} s from the workers' "
                f"start; {measured['bad_signatures']} bad signatures, "
                f"{measured['distinct_ids']:,} distinct webhook-ids; per worker "
                f"{measured['per_worker']}); baseline "
                f"{base['per_s']:,.0f} POSTs/s",
                flush=True,
            )
    finally:
        if receiver is not None:
            stop(receiver)
        from django.db import connections

        with contextlib.suppress(Exception):
            connections.close_all()
        with _admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')

    per_s = median([r["per_s"] for r in runs])
    base_per_s = median([b["per_s"] for b in baselines])
    result = {
        "machine": machine(),
        "started": datetime.now(UTC).isoformat(),
        "events": args.events,
        "deployments": args.deployments,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "runs": args.runs,
        "deliveries_per_s": per_s,
        "baseline_posts_per_s": base_per_s,
        "ratio": per_s / base_per_s,
        "bad_signatures": sum(r["bad_signatures"] for r in runs),
        "per_run": runs,
        "baseline_per_run": baselines,
    }
    verdict = "ok" if per_s >= TARGET_PER_S else "BELOW TARGET"
    print("\nwebhooks benchmark", json.dumps(result["machine"]))
    print(
        f"  {args.workers} workers x {args.concurrency} threads, {args.events:,} events over "
        f"{args.deployments} deployments: {per_s:,.0f} deliveries/s (median of {args.runs}); "
        f"plain POSTs from one process, same client: {base_per_s:,.0f}/s; ratio "
        f"{per_s / base_per_s:.2f} [target >= {TARGET_PER_S}/s: {verdict}]"
    )
    emit(result)


if __name__ == "__main__":
    if str(os.path.dirname(__file__)) not in sys.path:
        sys.path.insert(0, os.path.dirname(__file__))
    main()
