"""GET /api/v1/events: the envelope, scoping, filters, paging and every bad
input as a 400 naming its parameter."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection

from deployments.api.feed_views import FeedEventOut
from feed.cursor import decode_cursor, encode_cursor
from feed.envelope import envelope_json, render_envelope
from feed.models import Event
from feed.selectors import FeedEvent
from feed.types import EVENT_TYPES
from tests.batch.conftest import make_deployments
from tests.feed.conftest import read_all, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tenant, other_tenant):
    """Events of two tenants' deployments, and one platform-wide event: only
    these (the deployments are inserted without the service, so their own
    creation is not in the feed)."""
    acme, acme_db = make_deployments(tenant, 2, state="active")
    (globex,) = make_deployments(other_tenant, 1, state="active")
    events = {
        "acme-created": record("deployment.created", tenant_id=tenant.id, deployment_id=acme.pk),
        "acme-paused": record(
            "deployment.transitioned",
            tenant_id=tenant.id,
            deployment_id=acme.pk,
            from_state="active",
            to_state="paused",
        ),
        "acme-db-resource": record(
            "resource.created", tenant_id=tenant.id, deployment_id=acme_db.pk, name="disk"
        ),
        "globex-created": record(
            "deployment.created", tenant_id=other_tenant.id, deployment_id=globex.pk
        ),
        "acme-period": record("subscription.period_closed", tenant_id=tenant.id, total_cents=900),
        "platform": record("subscription.trial_will_end", tenant_id=None),
    }
    read_all()  # positioned (the test's transaction never commits)
    return {"acme": acme, "acme_db": acme_db, "globex": globex, "events": events}


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [e["id"] for e in response.json()["events"]]


def _evt(world, *names) -> list[str]:
    return [f"evt_{world['events'][name].pk}" for name in names]


def test_the_envelope_is_cloudevents_json(tenant_client, tenant, world):
    response = tenant_client.get("/api/v1/events?types=deployment.transitioned")
    assert response.status_code == 200
    event = Event.objects.get(pk=world["events"]["acme-paused"].pk)
    acme = world["acme"].pk
    assert response.json() == {
        "events": [
            {
                "id": f"evt_{event.pk}",
                "specversion": "1.0",
                "type": "deployment.transitioned",
                "source": f"/api/v1/deployments/{acme}",
                "subject": str(acme),
                "time": event.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "tenant_id": str(tenant.id),
                "sequence": f"{event.position:019d}",
                "datacontenttype": "application/json",
                "data": {"from_state": "active", "to_state": "paused"},
            }
        ],
        "next_cursor": encode_cursor(event.position),
        "has_more": False,
    }


def test_an_event_without_deployment_has_the_api_as_source(admin_client_api, world):
    body = admin_client_api.get("/api/v1/events?types=subscription.period_closed").json()
    [event] = body["events"]
    assert (event["source"], event["subject"]) == ("/api/v1", None)


def test_sequence_compares_as_a_string_in_feed_order():
    sequences = [render_envelope(_fake(position))["sequence"] for position in (9, 10, 2**63 - 1)]
    assert sequences == sorted(sequences)
    assert [int(s) for s in sequences] == [9, 10, 2**63 - 1]


def _fake(position, **fields):
    values = {
        "id": 1,
        "position": position,
        "type": "resource.created",
        "tenant_id": None,
        "deployment_id": None,
        "occurred_at": datetime.now(UTC),
        "data_json": "{}",
        "request_id": "",
    }
    return FeedEvent(**{**values, **fields})


def test_the_documented_shape_is_the_rendered_shape():
    assert list(FeedEventOut().fields) == list(render_envelope(_fake(1)))


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"tenant_id": uuid.uuid4(), "deployment_id": uuid.uuid4()},
        {"data_json": json.dumps({"name": 'é " \n \u2028', "nested": {"list": [1, None]}})},
        {"data_json": '{"spaced": [1, 2], "jsonb": {"a": true}}'},
    ],
)
def test_the_json_envelope_is_the_rendered_envelope(fields):
    # envelope_json writes the type unescaped: no type may ever need escaping.
    assert all(re.fullmatch(r"[a-z_.]+", t) for t in EVENT_TYPES)
    event = _fake(123, **fields)
    assert json.loads(envelope_json(event)) == render_envelope(event)


def test_a_tenant_sees_only_its_own_events(tenant_client, other_client, world):
    assert _ids(tenant_client.get("/api/v1/events")) == _evt(
        world, "acme-created", "acme-paused", "acme-db-resource", "acme-period"
    )
    assert _ids(other_client.get("/api/v1/events")) == _evt(world, "globex-created")


def test_another_tenants_id_matches_nothing_for_a_tenant(
    tenant_client, other_tenant, tenant, world
):
    # The deployments list's rule: the scope first, then the filter.
    response = tenant_client.get(f"/api/v1/events?tenant_id={other_tenant.id}")
    assert _ids(response) == []
    assert response.json()["has_more"] is False
    own = tenant_client.get(f"/api/v1/events?tenant_id={tenant.id}")
    assert len(_ids(own)) == 4


def test_a_platform_admin_sees_every_tenant_and_may_filter(admin_client_api, other_tenant, world):
    every = _ids(admin_client_api.get("/api/v1/events"))
    assert every == [f"evt_{e.pk}" for e in world["events"].values()]
    assert _ids(admin_client_api.get(f"/api/v1/events?tenant_id={other_tenant.id}")) == _evt(
        world, "globex-created"
    )


def test_the_deployment_filter(tenant_client, admin_client_api, world):
    acme = world["acme"].pk
    assert _ids(tenant_client.get(f"/api/v1/events?deployment={acme}")) == _evt(
        world, "acme-created", "acme-paused"
    )
    globex = world["globex"].pk
    assert _ids(admin_client_api.get(f"/api/v1/events?deployment={globex}")) == _evt(
        world, "globex-created"
    )


@pytest.mark.parametrize("which", ["foreign", "missing"])
def test_another_tenants_or_a_missing_deployment_is_404(tenant_client, world, which):
    target = world["globex"].pk if which == "foreign" else uuid.uuid4()
    response = tenant_client.get(f"/api/v1/events?deployment={target}")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found"}


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ("deployment.created", ["acme-created", "globex-created"]),
        ("deployment.*", ["acme-created", "acme-paused", "globex-created"]),
        ("resource.*,subscription.period_closed", ["acme-db-resource", "acme-period"]),
        ("subscription.*", ["acme-period", "platform"]),
        ("subscription.trial_*", ["platform"]),
        ("*", ["acme-created", "acme-paused", "acme-db-resource"]),
        ("resource.deleted", []),
    ],
)
def test_types_filters(admin_client_api, world, types, expected):
    ids = _ids(admin_client_api.get(f"/api/v1/events?types={types}&limit=3"))
    assert ids == _evt(world, *expected)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("after=garbage", "after"),
        ("after=%00", "after"),
        ("after=MTo0Mg%00", "after"),
        ("after=%ED%A0%80", "after"),  # a lone surrogate, UTF-8 encoded
        ("after=" + "A" * 5000, "after"),
        ("after=NOW", "after"),
        ("types=%00", "types"),
        ("types=deployment.exploded", "types"),
        ("types=deployment.", "types"),
        ("types=*.created", "types"),
        ("types=resource.*,", "types"),
        ("types=res*ource", "types"),
        ("types=nothing.*", "types"),
        ("types=%20resource.created", "types"),
        ("deployment=%00", "deployment"),
        ("deployment=not-a-uuid", "deployment"),
        ("deployment=" + "a" * 5000, "deployment"),
        ("tenant_id=%00", "tenant_id"),
        ("tenant_id=12345", "tenant_id"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("limit=%00", "limit"),
        ("limit=1e3", "limit"),
        ("wait=31", "wait"),
        ("wait=-1", "wait"),
        ("wait=1.5", "wait"),
        ("wait=abc", "wait"),
        ("wait=%00", "wait"),
        ("wait=+1", "wait"),
        ("wait=%201", "wait"),
        ("wait=100", "wait"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(tenant_client, world, query, parameter):
    before = list(Event.objects.values_list("id", "position"))
    response = tenant_client.get(f"/api/v1/events?{query}")
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "bad_request"
    assert list(body["detail"]) == [parameter]
    messages = body["detail"][parameter]
    assert messages
    assert all(isinstance(m, str) for m in messages)
    assert list(Event.objects.values_list("id", "position")) == before


def test_unauthenticated_is_401(anon_client, world):
    response = anon_client.get("/api/v1/events")
    assert response.status_code == 401
    assert response.json() == {"error": "unauthenticated"}


def test_following_next_cursor_reads_everything_once(admin_client_api, world):
    seen, cursor, pages = [], None, 0
    while True:
        query = "limit=2" + (f"&after={cursor}" if cursor else "")
        body = admin_client_api.get(f"/api/v1/events?{query}").json()
        pages += 1
        seen += [e["id"] for e in body["events"]]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    assert seen == [f"evt_{e.pk}" for e in world["events"].values()]
    assert pages == 3
    # at the end, the cursor stays where it is until something new commits
    again = admin_client_api.get(f"/api/v1/events?after={cursor}").json()
    assert (again["events"], again["next_cursor"], again["has_more"]) == ([], cursor, False)
    newer = record("resource.deleted", tenant_id=None)
    read_all()
    assert _ids(admin_client_api.get(f"/api/v1/events?after={cursor}")) == [f"evt_{newer.pk}"]


def test_after_now_starts_at_the_head(tenant_client, tenant, world):
    body = tenant_client.get("/api/v1/events?after=now").json()
    assert body["events"] == []
    assert decode_cursor(body["next_cursor"]) == Event.objects.order_by("-position")[0].position
    newer = record("resource.updated", tenant_id=tenant.id)
    read_all()
    assert _ids(tenant_client.get(f"/api/v1/events?after={body['next_cursor']}")) == [
        f"evt_{newer.pk}"
    ]


def test_no_after_on_an_empty_feed_gives_a_cursor_that_catches_the_first_event(tenant_client):
    body = tenant_client.get("/api/v1/events").json()
    assert body == {"events": [], "next_cursor": encode_cursor(0), "has_more": False}


def test_wait_is_not_honoured_inside_a_transaction(tenant_client, world):
    # This test runs inside a transaction that never commits: sleeping in it
    # would hold the transaction open for nothing. The answer comes at once.
    started = time.monotonic()
    response = tenant_client.get("/api/v1/events?after=now&wait=5")
    assert response.status_code == 200
    assert time.monotonic() - started < 2


def test_query_counts(tenant_client, admin_client_api, world, django_assert_max_num_queries):
    tenant_client.get("/api/v1/me")  # the token's first use writes last_used_at
    admin_client_api.get("/api/v1/me")
    settle = 1 if connection.vendor == "postgresql" else 0
    # token + identity + tenant (one join); [PostgreSQL, in a transaction: settle
    # the transaction's own pending events]; the events with the watermark.
    with django_assert_max_num_queries(2 + settle):
        assert len(_ids(tenant_client.get("/api/v1/events?limit=1000"))) == 4
    # ... plus the deployment visible to the caller.
    with django_assert_max_num_queries(3 + settle):
        _ids(tenant_client.get(f"/api/v1/events?deployment={world['acme'].pk}&types=deployment.*"))
    with django_assert_max_num_queries(2 + settle):
        _ids(admin_client_api.get("/api/v1/events?after=now"))


def test_read_feed_is_one_query_per_page(world, django_assert_max_num_queries):
    from feed.cursor import Anchor
    from feed.selectors import read_feed

    settle = 1 if connection.vendor == "postgresql" else 0
    for after in (Anchor.OLDEST, Anchor.HEAD, 2):
        # [settle the test transaction's own events]; the page and the watermark.
        with django_assert_max_num_queries(1 + settle):
            read_feed(
                tenant_id=None, after=after, types=["deployment.*"], deployment_id=None, limit=2
            )
