"""Queries per request, in-process (CaptureQueriesContext), authentication included.

Each endpoint is measured twice, at a small and a large number of rows/events:
the count must not grow with either (no N+1). Targets: show <= 5, list <= 4
(on PostgreSQL today: show 5 = token, rate-limit counter, deployment, add-on
lines + pending changes, events; list 3 = token, counter, count + page).
Round trips per request (libpq's trace, `arcadia_cloud.db.round_trips`: what
the client waits for, BEGIN and COMMIT included, the rate-limit upsert too) are
reported for the large data.

    python benchmarks/bench_queries.py
"""

from __future__ import annotations

import os

from common import emit, scratch_database, setup_django

# Auth included: the token lookup plus, with rate limits on as in production,
# one upsert of the per-token counter.
TARGETS = {"show": 5, "list(50)": 4, "me": 2, "transition": None}


def count(client, method: str, path: str, token: str, **kw) -> tuple[int, int, int, list[str]]:
    """Status, statements in Django's query log, round trips to the server
    (libpq's trace: BEGIN and COMMIT included), and what each trip sent."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from arcadia_cloud.db import round_trips

    with CaptureQueriesContext(connection) as ctx, round_trips() as trips:
        response = getattr(client, method)(
            path, HTTP_AUTHORIZATION=f"Bearer {token}", content_type="application/json", **kw
        )
    return response.status_code, len(ctx.captured_queries), trips.count, trips.sent


def measure(events: int, deployments: int) -> tuple[dict[str, int], dict[str, int]]:
    """Query counts per endpoint, and the size of the data they were measured on."""
    import apidata
    from django.test import Client

    from deployments.models import Deployment

    data = apidata.build(events=events, deployments=deployments, transition_pool=2)
    client = Client()
    auth = data.token
    # a first request writes the token's last_used_at (once a minute at most)
    client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {auth}")
    results = {}
    trips = {}
    flip = data.transition_ids[0]
    for name, method, path, body in (
        ("me", "get", "/api/v1/me", None),
        ("show", "get", f"/api/v1/deployments/{data.show_id}", None),
        ("list(50)", "get", "/api/v1/deployments?limit=50", None),
        ("transition", "post", f"/api/v1/deployments/{flip}/transition", '{"to_state":"paused"}'),
    ):
        kw = {"data": body} if body else {}
        status, n, trips[name], sent = count(client, method, path, auth, **kw)
        if status != 200:
            raise SystemExit(f"{name}: HTTP {status}")
        if os.environ.get("BENCH_VERBOSE"):
            print(f"-- {name}:\n  " + "\n  ".join(s[:160] for s in sent))
        results[name] = n
    assert Deployment.objects.filter(pk=flip, state="paused").exists()
    return results, trips, {"events": data.show_events, "deployments": data.deployments}


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE deployments_deploymentevent, deployments_deployment, "
            "arcadia_cloud_apitoken, arcadia_cloud_user, arcadia_cloud_tenant CASCADE"
        )


def main() -> None:
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    with scratch_database("queries") as url:
        setup_django(url)
        small, _, small_size = measure(events=5, deployments=10)
        reset()
        large, trips, large_size = measure(events=60, deployments=300)
        print("queries per request (auth included): small data -> large data; round trips")
        rows = []
        for name, target in TARGETS.items():
            ok = small[name] == large[name] and (target is None or large[name] <= target)
            note = f"(target <= {target})" if target else "(constant)"
            verdict = "ok" if ok else "MISSED"
            print(
                f"  {name:11s} {small[name]:2d} -> {large[name]:2d}  {note} {verdict}"
                f"  round trips {trips[name]}"
            )
            rows.append(
                {
                    "endpoint": name,
                    "small": small[name],
                    "large": large[name],
                    "target": target,
                    "round_trips": trips[name],
                }
            )
        emit({"queries": rows, "small": small_size, "large": large_size})


if __name__ == "__main__":
    main()
