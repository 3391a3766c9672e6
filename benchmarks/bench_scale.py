"""Scale-out proof: two app servers and two batch runners behind PgBouncer in
transaction pooling mode, and the concurrency invariants checked afterwards.

`make bench-scale`. The script starts everything itself and stops it at the
end (also on failure):
- Debian's PgBouncer (`/usr/sbin/pgbouncer`, `apt-get install pgbouncer`),
  `pool_mode = transaction`, its own configuration in a temporary directory,
  on a free port in BENCH_SCALE_PORTS (default 8630-8649), a pool of
  `--pool-size` server connections;
- two gunicorn instances (gthread) on two more ports of that range, both with
  DATABASE_URL through PgBouncer, `DATABASE_POOLING=transaction` (no
  server-side cursors, no prepared statements) and the feed's LISTEN
  connection pointed straight at PostgreSQL (`ARCADIA_FEED_LISTEN_URL`);
- while HTTP clients transition deployments over both instances (each request
  with an Idempotency-Key, some retried on the OTHER instance, as a client
  behind a load balancer would), two `manage.py transition_deployments`
  processes (through PgBouncer too) move the past_due deployments to
  suspended at the same moment, and a tenant client cancels some of those
  same past_due deployments over HTTP meanwhile.
Then it checks, in the database:
- every deployment's state is its last event's `to_state`, and every event's
  `from_state` is the previous event's `to_state` (exactly one event per move:
  none lost, none doubled);
- each batch-moved deployment has exactly one past_due -> suspended event and
  the two runners' "moved" add up to them; none is left past_due;
- every HTTP move that answered 200 (not replayed) has exactly one event with
  its request id, a retried key replayed the same answer with no second
  event; every move has its feed event.
and prints the figures (requests/s over both instances, latencies, batch
times, PostgreSQL backends used). Exit status 1 when an invariant fails.

    python benchmarks/bench_scale.py [--deployments 64] [--batch-rows 20000]
        [--clients 8] [--seconds 15] [--pool-size 8]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from common import ROOT, emit, machine, scratch_database, setup_django

PGBOUNCER = "/usr/sbin/pgbouncer"
PORTS = os.environ.get("BENCH_SCALE_PORTS", "8630-8649")
API_SLUG = "scale"


def free_ports(count: int) -> list[int]:
    low, high = (int(n) for n in PORTS.split("-"))
    found = []
    for port in range(low, high + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise SystemExit(f"fewer than {count} free ports in {PORTS}")


# -- the data ---------------------------------------------------------------------

BUILD_PAST_DUE = """
INSERT INTO deployments_deployment
    (id, tenant_id, slug, display_name, region, state, state_since, llm_mode,
     billing_action_suspended, template_code, template_version, created_at, updated_at)
SELECT gen_random_uuid(), %(tenant)s, 'due-' || g, 'Due ' || g, 'us-east-1', 'past_due',
       now() - interval '30 days', 'managed', false, NULL, NULL,
       now() - interval '90 days', now() - interval '30 days'
FROM generate_series(1, %(rows)s) AS g;

INSERT INTO deployments_deploymentevent
    (deployment_id, from_state, to_state, reason, actor, notes, request_id, occurred_at)
SELECT id, NULL, 'active', 'created', 'system:bench', '', '', created_at
FROM deployments_deployment WHERE slug LIKE 'due-%%'
UNION ALL
SELECT id, 'active', 'past_due', 'invoice unpaid', 'system:billing', '', '', state_since
FROM deployments_deployment WHERE slug LIKE 'due-%%';
"""


def build(deployments: int, batch_rows: int) -> tuple[str, list[str], list[str]]:
    """(token, ids of active deployments for HTTP, ids of past_due deployments)."""
    from django.db import connection

    from arcadia_cloud.actors import Actor
    from arcadia_cloud.services import create_identity, create_tenant, issue_token
    from deployments.models import Deployment
    from deployments.services import create_deployment

    tenant = create_tenant(slug=API_SLUG, name="Scale")
    owner = create_identity(email="owner@scale.example", tenant=tenant)
    actor = Actor.for_identity(owner)
    token = issue_token(user=owner, name="scale").raw
    flips = [
        str(
            create_deployment(
                tenant=tenant,
                slug=f"flip-{i}",
                display_name=f"Flip {i}",
                region="us-east-1",
                actor=actor,
            ).pk
        )
        for i in range(deployments)
    ]
    with connection.cursor() as cursor:
        cursor.execute(BUILD_PAST_DUE, {"tenant": tenant.pk, "rows": batch_rows})
        cursor.execute("ANALYZE")
    due = [
        str(pk) for pk in Deployment.objects.filter(state="past_due").values_list("pk", flat=True)
    ]
    return token, flips, due


# -- the processes ------------------------------------------------------------------


def start_pgbouncer(workdir: Path, port: int, database: str, pool_size: int) -> subprocess.Popen:
    if not Path(PGBOUNCER).exists():
        raise SystemExit(f"{PGBOUNCER} is missing: apt-get install pgbouncer")
    server = urlsplit(os.environ.get("DATABASE_URL", "") or "postgres://postgres@127.0.0.1:5432")
    host, pg_port = server.hostname or "127.0.0.1", server.port or 5432
    user = server.username or "postgres"
    (workdir / "userlist.txt").write_text(f'"{user}" ""\n')
    (workdir / "pgbouncer.ini").write_text(
        f"""[databases]
{database} = host={host} port={pg_port} dbname={database} user={user} timezone=UTC

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {workdir / "userlist.txt"}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 500
ignore_startup_parameters = extra_float_digits,options
logfile = {workdir / "pgbouncer.log"}
pidfile = {workdir / "pgbouncer.pid"}
"""
    )
    cmd = [PGBOUNCER, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root.
        shutil.chown(workdir, "postgres")
        for path in workdir.iterdir():
            shutil.chown(path, "postgres")
        cmd[1:1] = ["-u", "postgres"]
    # its log goes to the log file; not to this script's output
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.1)
    stop(proc)
    raise SystemExit(
        f"pgbouncer did not listen on {port}: {(workdir / 'pgbouncer.log').read_text()}"
    )


def pooled_env(pooled_url: str, direct_url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": pooled_url,
        "DATABASE_POOLING": "transaction",
        "ARCADIA_FEED_LISTEN_URL": direct_url,
        "DEBUG": "false",
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": "ERROR",
        "ARCADIA_THROTTLE_READ": "off",
        "ARCADIA_THROTTLE_WRITE": "off",
        "CI": "1",
    }


def start_gunicorn(port: int, env: dict) -> subprocess.Popen:
    cmd = [
        str(Path(sys.executable).with_name("gunicorn")),
        "arcadia_cloud.wsgi",
        f"--bind=127.0.0.1:{port}",
        "--workers=2",
        "--worker-class=gthread",
        "--threads=4",
        "--log-level=warning",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    stop(proc)
    raise SystemExit(f"gunicorn on {port} did not answer /healthz within 60 s")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


# -- the HTTP clients ------------------------------------------------------------------


class Client:
    """One keep-alive connection per instance; records every answer."""

    def __init__(self, ports: list[int], token: str):
        self.conns = {
            port: http.client.HTTPConnection("127.0.0.1", port, timeout=60) for port in ports
        }
        self.token = token
        self.records: list[dict] = []
        self.latencies: list[float] = []

    def post(self, port: int, path: str, body: dict, key: str) -> tuple[int, dict, bool]:
        payload = json.dumps(body)
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "X-Request-Id": key,
        }
        for attempt in range(2):
            conn = self.conns[port]
            started = time.perf_counter()
            try:
                conn.request("POST", path, payload, headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                if attempt:
                    raise
                continue
            self.latencies.append(time.perf_counter() - started)
            replayed = response.getheader("Idempotent-Replayed") == "true"
            return response.status, json.loads(data or b"{}"), replayed
        raise AssertionError("unreachable")

    def transition(self, ports, deployment_id, to_state, expected, retry: bool) -> None:
        key = str(uuid.uuid4())
        body = {"to_state": to_state, "expected_state": expected, "reason": "scale"}
        path = f"/api/v1/deployments/{deployment_id}/transition"
        first, second = random.sample(ports, 2) if len(ports) > 1 else (ports[0], ports[0])
        status, answer, replayed = self.post(first, path, body, key)
        record = {"key": key, "status": status, "replayed": replayed, "to": to_state}
        if retry:
            # the same request again, on the other instance: a client that
            # did not see the first answer
            status2, answer2, replayed2 = self.post(second, path, body, key)
            record["retry"] = {
                "status": status2,
                "same": (status2, answer2) == (status, answer),
                "replayed": replayed2,
            }
        self.records.append(record)


def flipper(client: Client, ports, ids: list[str], until: float) -> None:
    """Pause and resume its own deployments until `until`; every 4th request
    retried on the other instance."""
    state = dict.fromkeys(ids, "active")
    n = 0
    while time.monotonic() < until:
        for deployment_id in ids:
            to_state = "paused" if state[deployment_id] == "active" else "active"
            client.transition(ports, deployment_id, to_state, state[deployment_id], n % 4 == 0)
            if client.records[-1]["status"] == 200:
                state[deployment_id] = to_state
            n += 1
            if time.monotonic() >= until:
                return


def canceller(client: Client, ports, ids: list[str]) -> None:
    """Cancel past_due deployments the batch runners are moving right now."""
    for deployment_id in ids:
        client.transition(ports, deployment_id, "cancelled", "past_due", False)


# -- the invariants -----------------------------------------------------------------

CHAIN = """
SELECT count(*) FROM (
    SELECT from_state, lag(to_state) OVER (PARTITION BY deployment_id ORDER BY id) AS before,
           row_number() OVER (PARTITION BY deployment_id ORDER BY id) AS n
    FROM deployments_deploymentevent
) e WHERE n > 1 AND from_state IS DISTINCT FROM before
"""
LAST = """
SELECT count(*) FROM deployments_deployment d
WHERE d.state IS DISTINCT FROM (
    SELECT e.to_state FROM deployments_deploymentevent e
    WHERE e.deployment_id = d.id ORDER BY e.id DESC LIMIT 1)
"""


def check(records: list[dict], runners: list[dict]) -> list[str]:
    from django.db import connection

    problems = []
    with connection.cursor() as cursor:
        cursor.execute(LAST)
        if (n := cursor.fetchone()[0]) != 0:
            problems.append(f"{n} deployments whose state is not their last event's to_state")
        cursor.execute(CHAIN)
        if (n := cursor.fetchone()[0]) != 0:
            problems.append(f"{n} events whose from_state is not the previous to_state")
        cursor.execute(
            "SELECT count(*), count(DISTINCT deployment_id) FROM deployments_deploymentevent "
            "WHERE from_state = 'past_due' AND to_state = 'suspended'"
        )
        suspended, distinct = cursor.fetchone()
        moved = sum(runner["moved"] for runner in runners)
        if not suspended == distinct == moved:
            problems.append(
                f"batch: {suspended} suspend events on {distinct} deployments, "
                f"runners moved {moved}"
            )
        cursor.execute("SELECT count(*) FROM deployments_deployment WHERE state = 'past_due'")
        if (n := cursor.fetchone()[0]) != 0:
            problems.append(f"{n} deployments left past_due")
        cursor.execute(
            "SELECT (SELECT count(*) FROM deployments_deploymentevent WHERE from_state IS NOT NULL "
            "AND actor <> 'system:billing'), (SELECT count(*) FROM feed_event "
            "WHERE type = 'deployment.transitioned')"
        )
        moves, feed = cursor.fetchone()
        if moves != feed:
            problems.append(f"{moves} moves but {feed} deployment.transitioned feed events")
        done = [r for r in records if r["status"] == 200 and not r["replayed"]]
        cursor.execute(
            "SELECT request_id, count(*) FROM deployments_deploymentevent "
            "WHERE request_id = ANY(%s) GROUP BY request_id",
            [[r["key"] for r in records]],
        )
        per_key = dict(cursor.fetchall())
    for record in records:
        expected = 1 if record["status"] == 200 and not record["replayed"] else 0
        if per_key.get(record["key"], 0) != expected:
            problems.append(
                f"key {record['key']}: {per_key.get(record['key'], 0)} events, answered "
                f"{record['status']}"
            )
        retry = record.get("retry")
        if retry and record["status"] == 200 and not (retry["same"] and retry["replayed"]):
            problems.append(f"key {record['key']}: the retry was not a replay of the first answer")
    if len(done) != sum(per_key.values()):
        problems.append(f"{len(done)} HTTP moves but {sum(per_key.values())} events for them")
    return problems[:20]


def backends(database: str) -> int:
    import psycopg
    from common import database_url

    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
            "AND backend_type = 'client backend'",
            [database],
        ).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=64, help="HTTP-transitioned ones")
    parser.add_argument("--batch-rows", type=int, default=20_000)
    parser.add_argument("--cancel", type=int, default=200, help="past_due ones cancelled over HTTP")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--pool-size", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="2,000 batch rows, 6 s")
    args = parser.parse_args()
    if args.quick:
        args.batch_rows, args.seconds, args.cancel = 2000, 6, 50
    processes: list[subprocess.Popen] = []
    workdir = Path(tempfile.mkdtemp(prefix="arcadia-scale-"))
    m = machine()
    try:
        with scratch_database("scale") as direct_url:
            try:
                setup_django(direct_url)
                token, flips, due = build(args.deployments, args.batch_rows)
                database = urlsplit(direct_url).path.lstrip("/")
                bouncer_port, *app_ports = free_ports(3)
                processes.append(start_pgbouncer(workdir, bouncer_port, database, args.pool_size))
                pooled = direct_url.replace(
                    urlsplit(direct_url).netloc.split("@")[-1], f"127.0.0.1:{bouncer_port}"
                )
                env = pooled_env(pooled, direct_url)
                for port in app_ports:
                    processes.append(start_gunicorn(port, env))
                print(
                    f"scale: pgbouncer :{bouncer_port} (transaction pooling, pool of "
                    f"{args.pool_size}), gunicorn :{app_ports[0]} and :{app_ports[1]} "
                    f"(2 workers x 4 threads each) through it; {args.clients} HTTP clients "
                    f"on {len(flips)} deployments for {args.seconds} s, "
                    f"two batch runners on {len(due):,} past_due"
                )
                from django.db import connection

                connection.close()
                clients = [Client(app_ports, token) for _ in range(args.clients + 1)]
                shares = [flips[i :: args.clients] for i in range(args.clients)]
                started = time.monotonic()
                until = started + args.seconds
                threads = [
                    threading.Thread(target=flipper, args=(c, app_ports, ids, until))
                    for c, ids in zip(clients, shares, strict=False)
                ]
                for thread in threads:
                    thread.start()
                time.sleep(min(2, args.seconds / 4))
                runner_cmd = [
                    sys.executable,
                    "manage.py",
                    "transition_deployments",
                    "--from=past_due",
                    "--to=suspended",
                    "--reason=dunning",
                    "--batch-size=500",
                    "--workers=2",
                ]
                batch_started = time.monotonic()
                runners = [
                    subprocess.Popen(
                        runner_cmd,
                        cwd=ROOT,
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                    for _ in range(2)
                ]
                cancel = threading.Thread(
                    target=canceller,
                    args=(clients[-1], app_ports, random.sample(due, min(args.cancel, len(due)))),
                )
                cancel.start()
                peak = 0
                while any(r.poll() is None for r in runners):
                    peak = max(peak, backends(database))
                    time.sleep(0.2)
                batch_seconds = time.monotonic() - batch_started
                summaries = []
                for runner in runners:
                    out, err = runner.communicate()
                    if runner.returncode != 0:
                        raise SystemExit(
                            f"a batch runner failed ({runner.returncode}): {err[-2000:]}"
                        )
                    summary = {}
                    for line in out.splitlines():
                        key, _, value = line.strip().partition(": ")
                        if value.isdigit():
                            summary[key] = int(value)
                    summaries.append(summary)
                cancel.join()
                for thread in threads:
                    thread.join()
                elapsed = time.monotonic() - started
                records = [r for c in clients for r in c.records]
                latencies = sorted(x for c in clients for x in c.latencies)
                problems = check(records, summaries)
            finally:
                # before the database is dropped: its clients first
                for proc in reversed(processes):
                    stop(proc)
        ok = [r for r in records if r["status"] == 200]
        statuses: dict[int, int] = {}
        for r in records:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(
            f"scale: {len(latencies)} HTTP requests in {elapsed:.1f} s over two instances "
            f"({len(latencies) / elapsed:.0f} req/s), p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
            f"answers {dict(sorted(statuses.items()))}; retries replayed: "
            f"{sum(1 for r in records if r.get('retry'))}"
        )
        cancelled = sum(1 for r in records if r["to"] == "cancelled" and r["status"] == 200)
        print(
            f"scale: two batch runners moved {summaries[0]['moved']:,} + {summaries[1]['moved']:,}"
            f" of {len(due):,} in {batch_seconds:.1f} s (each also saw "
            f"{summaries[0]['state changed or locked by another runner']:,} / "
            f"{summaries[1]['state changed or locked by another runner']:,} taken by the other "
            f"or cancelled); {cancelled} cancelled over HTTP meanwhile; "
            f"PostgreSQL client backends at most {peak} "
            f"(PgBouncer's pool: {args.pool_size}; a feed listener connects directly, and only "
            "once a consumer long-polls)"
        )
        if problems:
            print("scale: INVARIANTS BROKEN:\n  " + "\n  ".join(problems))
        else:
            print(
                "scale: invariants hold: state = last event, one event per move, "
                "one suspend per batch-moved deployment, one effect per idempotency key, "
                "one feed event per move"
            )
        emit(
            {
                "machine": m,
                "requests": len(latencies),
                "rps": len(latencies) / elapsed,
                "p50_ms": p50,
                "p99_ms": p99,
                "ok": len(ok),
                "statuses": statuses,
                "batch_rows": len(due),
                "batch_s": batch_seconds,
                "moved": [s["moved"] for s in summaries],
                "peak_backends": peak,
                "pool_size": args.pool_size,
                "invariants": not problems,
            }
        )
        if problems:
            sys.exit(1)
    finally:
        for proc in reversed(processes):
            stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
