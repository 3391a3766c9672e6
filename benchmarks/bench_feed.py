"""The events feed: read throughput, the cost of the commit-time lock, and
commit-to-long-poll latency.

1. read: 100,000 events through `read_feed`, page by page (limit 1000), vs a
   raw SQL scan of the same rows in the same run (same pages on a plain
   psycopg connection, nothing built); the same pages rendered as the HTTP
   route writes them; and one consumer reading them all over HTTP.
2. lock: 16 writer threads, each committing one-event transactions in a loop
   (synchronous_commit as the server has it), with the commit-time position
   trigger and with it disabled: events/s and COMMIT latency p50/p99.
3. latency: gunicorn on 127.0.0.1:PORT (gthread), consumers long-polling
   `GET /api/v1/events?wait=30` while 16 writers commit events at random
   intervals: from the moment a writer's COMMIT returns to the moment a
   consumer has the event, p50/p99.

    python benchmarks/bench_feed.py [--events 100000] [--runs 3] [--seconds 8]
        [--port 8121] [--database NAME]

Works in a scratch PostgreSQL database (`arcadia_bench_feed_<pid>`, or
--database), created and dropped, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from bench_http import start_gunicorn, stop
from common import _admin_connection, database_url, emit, machine, median, setup_django

TARGET_READ_EVENTS_PER_S = 20_000
TARGET_P99_S = 1.0


@contextlib.contextmanager
def scratch(name: str) -> Iterator[str]:
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(name)
    finally:
        from django.db import connections

        with contextlib.suppress(Exception):
            connections.close_all()
        with _admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- 1. read throughput -------------------------------------------------------


def fill(events: int) -> None:
    """`events` transition events of 1,000 deployments in 10 tenants, each with
    a realistic payload (the deployment shape), committed in chunks."""
    from django.db import transaction

    from feed.record import NewEvent, record_events

    rng = random.Random(7)
    tenants = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(10)]
    deployments = [(uuid.UUID(int=rng.getrandbits(128)), rng.choice(tenants)) for _ in range(1000)]
    chunk = 10_000
    for start in range(0, events, chunk):
        rows = []
        for i in range(start, min(events, start + chunk)):
            deployment, tenant = deployments[i % len(deployments)]
            rows.append(
                NewEvent(
                    "deployment.transitioned",
                    tenant,
                    deployment,
                    {
                        "from_state": "active",
                        "to_state": "paused",
                        "actor": "owner@bench.example",
                        "reason": "bench",
                        "notes": "",
                        "request_id": f"req-{i}",
                        "deployment": {
                            "id": str(deployment),
                            "tenant_id": str(tenant),
                            "slug": f"app-{i % 1000}",
                            "display_name": "An app",
                            "region": "us-east-1",
                            "state": "paused",
                            "state_since": "2026-03-01T12:00:00Z",
                            "llm_mode": "managed",
                            "template_code": None,
                            "template_version": None,
                            "billing_action_suspended": False,
                            "created_at": "2026-01-01T00:00:00Z",
                        },
                    },
                    request_id=f"req-{i}",
                )
            )
        with transaction.atomic():
            record_events(rows)


def read_through_feed(render: bool) -> tuple[int, float]:
    from deployments.api.feed_views import render_page
    from feed.cursor import Anchor
    from feed.selectors import read_feed

    after, count = Anchor.OLDEST, 0
    started = time.perf_counter()
    while True:
        page = read_feed(tenant_id=None, after=after, types=None, deployment_id=None, limit=1000)
        if render:
            render_page(page)  # the response body, as the HTTP route writes it
        count += len(page.events)
        after = page.next_position
        if not page.has_more:
            return count, time.perf_counter() - started


def read_raw_sql() -> tuple[int, float]:
    """The baseline: the same rows, pages and order, on a plain psycopg
    connection (psycopg's own C loaders, `data` as text, nothing built)."""
    import psycopg

    sql = (
        "SELECT id, position, type, tenant_id, deployment_id, occurred_at, data::text, "
        "request_id FROM feed_event WHERE position > %s ORDER BY position LIMIT 1000"
    )
    after, count = 0, 0
    with psycopg.connect(**_pg_params()) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        while True:
            cursor.execute(sql, [after])
            rows = cursor.fetchall()
            if not rows:
                return count, time.perf_counter() - started
            count += len(rows)
            after = rows[-1][1]


def read_over_http(port: int, token: str) -> tuple[int, float]:
    """One consumer following next_cursor through GET /api/v1/events?limit=1000."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    path, count = "/api/v1/events?limit=1000", 0
    started = time.perf_counter()
    while True:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = json.loads(response.read())
        assert response.status == 200, body
        count += len(body["events"])
        if not body["has_more"]:
            conn.close()
            return count, time.perf_counter() - started
        path = f"/api/v1/events?limit=1000&after={body['next_cursor']}"


def bench_read(events: int, runs: int, port: int, token: str) -> dict:
    print(f"read: filling {events:,} events ...", flush=True)
    fill(events)
    samples: dict[str, list[float]] = {
        "read_feed": [],
        "raw_sql": [],
        "read_feed+render": [],
        "http": [],
    }
    for run in range(runs):
        for name, fn in (
            ("raw_sql", read_raw_sql),
            ("read_feed", lambda: read_through_feed(False)),
            ("read_feed+render", lambda: read_through_feed(True)),
            ("http", lambda: read_over_http(port, token)),
        ):
            count, seconds = fn()
            assert count == events, (name, count)
            samples[name].append(count / seconds)
            print(f"  run {run + 1}: {name:17s} {count / seconds:10,.0f} events/s", flush=True)
    result = {name: median(values) for name, values in samples.items()}
    result["ratio_read_feed_to_raw"] = result["read_feed"] / result["raw_sql"]
    return result


# -- 2. the commit-time lock ------------------------------------------------------


def _pg_params() -> dict:
    from django.db import connection

    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(key, None)
    return params


def _insert_sql() -> str:
    return (
        "INSERT INTO feed_event (type, tenant_id, deployment_id, occurred_at, data, request_id) "
        "VALUES ('deployment.transitioned', %s, %s, now(), %s, '')"
    )


def commit_loop(writers: int, seconds: float) -> dict:
    """`writers` threads committing one-event transactions for `seconds`."""
    import psycopg

    params = _pg_params()
    latencies: list[list[float]] = [[] for _ in range(writers)]
    barrier = threading.Barrier(writers + 1)
    stop_at: list[float] = []

    def writer(i: int) -> None:
        with psycopg.connect(**params) as conn:
            tenant, deployment = uuid.uuid4(), uuid.uuid4()
            payload = json.dumps({"writer": i, "to_state": "paused"})
            barrier.wait()
            while time.perf_counter() < stop_at[0]:
                conn.execute(_insert_sql(), [tenant, deployment, payload])
                started = time.perf_counter()
                conn.commit()
                latencies[i].append(time.perf_counter() - started)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    stop_at.append(time.perf_counter() + seconds)
    barrier.wait()
    for thread in threads:
        thread.join()
    flat = [v for per in latencies for v in per]
    return {
        "events_per_s": len(flat) / seconds,
        "commit_p50_ms": pct(flat, 0.50) * 1000,
        "commit_p99_ms": pct(flat, 0.99) * 1000,
    }


def bench_lock(writers: int, seconds: float, runs: int) -> dict:
    from django.db import connection

    from feed.sql import POSITION_TRIGGER

    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        synchronous_commit = cursor.fetchone()[0]
    print(
        f"lock: {writers} writers, one event per transaction, synchronous_commit="
        f"{synchronous_commit}, {runs} x {seconds:.0f}s per mode",
        flush=True,
    )
    samples: dict[str, list[dict]] = {"with_trigger": [], "without_trigger": []}
    for run in range(runs):
        for mode in ("with_trigger", "without_trigger"):
            action = "ENABLE" if mode == "with_trigger" else "DISABLE"
            with connection.cursor() as cursor:
                cursor.execute("TRUNCATE feed_event")
                cursor.execute(f"ALTER TABLE feed_event {action} TRIGGER {POSITION_TRIGGER}")
            result = commit_loop(writers, seconds)
            samples[mode].append(result)
            print(
                f"  run {run + 1}: {mode:16s} {result['events_per_s']:8,.0f} events/s  "
                f"commit p50 {result['commit_p50_ms']:6.2f} ms  "
                f"p99 {result['commit_p99_ms']:6.2f} ms",
                flush=True,
            )
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE feed_event")
        cursor.execute(f"ALTER TABLE feed_event ENABLE TRIGGER {POSITION_TRIGGER}")
    result: dict = {"synchronous_commit": synchronous_commit, "writers": writers}
    for mode, values in samples.items():
        for key in ("events_per_s", "commit_p50_ms", "commit_p99_ms"):
            result[f"{mode}_{key}"] = median([v[key] for v in values])
    result["throughput_ratio"] = (
        result["with_trigger_events_per_s"] / result["without_trigger_events_per_s"]
    )
    return result


# -- 3. commit to long poll ---------------------------------------------------------


GUNICORN_WORKERS, GUNICORN_THREADS = 2, 16


@contextlib.contextmanager
def serving(url: str, port: int) -> Iterator[str]:
    """gunicorn on `port` and a platform admin's token for it."""
    import bench_http
    from django.db import connections

    from arcadia_cloud.services import create_identity, issue_token

    admin = create_identity(email="admin@bench.example", platform_admin=True)
    token = issue_token(user=admin, name="bench").raw
    connections.close_all()
    bench_http.PORT = port
    server = start_gunicorn(url, GUNICORN_WORKERS, GUNICORN_THREADS)
    try:
        yield token
    finally:
        stop(server)


def bench_latency(port: int, token: str, writers: int, consumers: int, seconds: float) -> dict:
    import psycopg

    print(
        f"latency: gunicorn {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads on :{port}, "
        f"{consumers} long-polling consumers (wait=30), {writers} writers, {seconds:.0f}s",
        flush=True,
    )
    params = _pg_params()
    committed_at: dict[str, float] = {}
    received: list[list[tuple[str, float]]] = [[] for _ in range(consumers)]
    lock = threading.Lock()

    # Each consumer starts at the head, then follows its cursor.
    def consumer(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Bearer {token}"}
        after = "now"
        while not received[i] or received[i][-1][0] != "last":
            path = f"/api/v1/events?after={after}&limit=1000&wait=30"
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = json.loads(response.read())
            now = time.perf_counter()
            assert response.status == 200, body
            after = body["next_cursor"]
            received[i].extend((event["data"]["key"], now) for event in body["events"])
        conn.close()

    def writer(i: int) -> None:
        rng = random.Random(i)
        deadline = time.perf_counter() + seconds
        n = 0
        with psycopg.connect(**params) as conn:
            tenant, deployment = uuid.uuid4(), uuid.uuid4()
            while time.perf_counter() < deadline:
                n += 1
                key = f"{i}-{n}"
                conn.execute(_insert_sql(), [tenant, deployment, json.dumps({"key": key})])
                conn.commit()
                done = time.perf_counter()
                with lock:
                    committed_at[key] = done
                time.sleep(rng.uniform(0, 0.05))

    consumer_threads = [threading.Thread(target=consumer, args=(i,)) for i in range(consumers)]
    for thread in consumer_threads:
        thread.start()
    time.sleep(1.0)  # every consumer is waiting at the head
    writer_threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in writer_threads:
        thread.start()
    for thread in writer_threads:
        thread.join()
    # A last event, after every writer's: the consumers stop when they have it.
    with psycopg.connect(**params) as conn:
        conn.execute(_insert_sql(), [None, None, json.dumps({"key": "last"})])
    for thread in consumer_threads:
        thread.join(60)
    latencies = []
    for per_consumer in received:
        keys = [key for key, _ in per_consumer if key != "last"]
        assert sorted(keys) == sorted(committed_at), "a consumer missed or repeated events"
        latencies.extend(at - committed_at[key] for key, at in per_consumer if key != "last")
    early = sum(1 for v in latencies if v < 0)
    return {
        "events": len(committed_at),
        "events_per_s": len(committed_at) / seconds,
        "consumers": consumers,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
        "seen_before_commit_returned": early,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--consumers", type=int, default=4)
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "8121")))
    parser.add_argument("--database", default=f"arcadia_bench_feed_{os.getpid()}")
    parser.add_argument("--only", choices=["read", "lock", "latency"], action="append")
    args = parser.parse_args()
    only = set(args.only or ["read", "lock", "latency"])

    with scratch(args.database) as url:
        setup_django(url)
        result: dict = {"machine": machine(), "started": datetime.now(UTC).isoformat()}
        with serving(url, args.port) as token:
            if "read" in only:
                result["read"] = bench_read(args.events, args.runs, args.port, token)
            if "lock" in only:
                result["lock"] = bench_lock(args.writers, args.seconds, args.runs)
            if "latency" in only:
                result["latency"] = bench_latency(
                    args.port, token, args.writers, args.consumers, args.seconds * 2
                )

    print("\nfeed benchmark", json.dumps(result["machine"]))
    if "read" in result:
        r = result["read"]
        verdict = "ok" if r["read_feed"] >= TARGET_READ_EVENTS_PER_S else "BELOW TARGET"
        print(
            f"  read {args.events:,} events: read_feed {r['read_feed']:,.0f} events/s, raw SQL "
            f"{r['raw_sql']:,.0f} events/s (ratio {r['ratio_read_feed_to_raw']:.2f}), "
            f"read_feed + render {r['read_feed+render']:,.0f} events/s, "
            f"HTTP (gunicorn, limit 1000) {r['http']:,.0f} events/s "
            f"[target >= {TARGET_READ_EVENTS_PER_S:,}: {verdict}]"
        )
    if "lock" in result:
        r = result["lock"]
        print(
            f"  commit-time lock, {r['writers']} writers (synchronous_commit="
            f"{r['synchronous_commit']}): with {r['with_trigger_events_per_s']:,.0f} events/s "
            f"(commit p50 {r['with_trigger_commit_p50_ms']:.2f} ms, p99 "
            f"{r['with_trigger_commit_p99_ms']:.2f} ms); without "
            f"{r['without_trigger_events_per_s']:,.0f} events/s (p50 "
            f"{r['without_trigger_commit_p50_ms']:.2f} ms, p99 "
            f"{r['without_trigger_commit_p99_ms']:.2f} ms); ratio {r['throughput_ratio']:.2f}"
        )
    if "latency" in result:
        r = result["latency"]
        verdict = "ok" if r["p99_ms"] < TARGET_P99_S * 1000 else "ABOVE TARGET"
        print(
            f"  commit -> long poll, {args.writers} writers ({r['events_per_s']:.0f} events/s), "
            f"{r['consumers']} consumers: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
            f"max {r['max_ms']:.1f} ms [target p99 < {TARGET_P99_S * 1000:.0f} ms: {verdict}]"
        )
    emit(result)


if __name__ == "__main__":
    if str(os.path.dirname(__file__)) not in sys.path:
        sys.path.insert(0, os.path.dirname(__file__))
    main()
