"""The webhook endpoint routes: status, JSON body and the database after each
call; tenant isolation (another tenant's endpoint is a 404, like a missing
one); strict input; the secret shown once."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import transaction

from feed.record import record_event
from tests.webhooks.conftest import make_endpoint
from webhooks.models import Delivery, EndpointSecret, WebhookEndpoint

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:8139/hooks"
BASE = "/api/v1/webhook-endpoints"


def post(client, path, body=None, **headers):
    return client.post(
        path, data=json.dumps(body or {}), content_type="application/json", **headers
    )


def patch(client, path, body):
    return client.patch(path, data=json.dumps(body), content_type="application/json")


def event(tenant, deployment=None, type_="deployment.transitioned"):
    with transaction.atomic():
        return record_event(
            type=type_,
            tenant_id=tenant.pk if tenant else None,
            deployment_id=deployment,
            data={},
        )


def test_create_answers_the_endpoint_and_its_secret_once(tenant_client, tenant):
    response = post(
        tenant_client, BASE, {"url": URL, "types": ["deployment.*"], "description": "ctl"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["endpoint"] == {
        "id": str(endpoint.pk),
        "tenant_id": str(tenant.pk),
        "url": URL,
        "types": ["deployment.*"],
        "description": "ctl",
        "enabled": True,
        "disabled_reason": None,
        "created_at": body["endpoint"]["created_at"],
    }
    assert body["secret"].startswith("whsec_")
    assert EndpointSecret.objects.get(endpoint=endpoint).secret == body["secret"]
    # never again: not in the list, not in the endpoint
    for path in (BASE, f"{BASE}/{endpoint.pk}"):
        answer = tenant_client.get(path)
        assert answer.status_code == 200
        assert body["secret"] not in answer.content.decode()
        assert b"whsec_" not in answer.content


def test_the_secret_is_standard_webhooks_format(tenant_client):
    import base64

    from standardwebhooks import Webhook

    secret = post(tenant_client, BASE, {"url": URL}).json()["secret"]
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    Webhook(secret)  # the library reads it


def test_an_endpoint_starts_at_the_feed_head(tenant_client, tenant):
    before = event(tenant)
    post(tenant_client, BASE, {"url": URL})
    endpoint = WebhookEndpoint.objects.get()
    before.refresh_from_db()
    assert endpoint.start_position >= (before.position or 0)


def test_list_is_scoped_to_the_callers_tenant(
    tenant_client, other_client, admin_client_api, tenant, other_tenant
):
    mine, _ = make_endpoint(tenant, URL)
    theirs, _ = make_endpoint(other_tenant, URL)
    platform, _ = make_endpoint(None, URL)
    ids = [e["id"] for e in tenant_client.get(BASE).json()["endpoints"]]
    assert ids == [str(mine.pk)]
    assert [e["id"] for e in other_client.get(BASE).json()["endpoints"]] == [str(theirs.pk)]
    everything = [e["id"] for e in admin_client_api.get(BASE).json()["endpoints"]]
    assert everything == [str(mine.pk), str(theirs.pk), str(platform.pk)]


def test_list_costs_a_fixed_number_of_queries(tenant_client, tenant, django_assert_max_num_queries):
    for i in range(5):
        make_endpoint(tenant, f"{URL}/{i}")
    tenant_client.get(BASE)  # warm the token's last-used write
    # queries: the token (with its identity), the endpoints
    with django_assert_max_num_queries(2):
        response = tenant_client.get(BASE)
    assert len(response.json()["endpoints"]) == 5


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("patch", "", {"enabled": False}),
        ("delete", "", None),
        ("post", "/rotate-secret", {}),
        ("get", "/deliveries", None),
        ("post", "/deliveries/{delivery}/retry", {}),
        ("post", "/replay", {"after": "1.0"}),
    ],
)
def test_another_tenants_endpoint_is_exactly_like_a_missing_one(
    other_client, tenant, method, suffix, body
):
    endpoint, _ = make_endpoint(tenant, URL)
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        event_id=1,
        position=1,
        event_type="deployment.created",
        scheduled_at="2026-01-01T00:00:00Z",
        created_at="2026-01-01T00:00:00Z",
        status="failed",
    )
    before = (
        list(WebhookEndpoint.objects.values()),
        list(EndpointSecret.objects.values()),
        list(Delivery.objects.values()),
    )

    def call(endpoint_id):
        path = f"{BASE}/{endpoint_id}{suffix.format(delivery=delivery.pk)}"
        if method == "get":
            return other_client.get(path)
        if method == "delete":
            return other_client.delete(path)
        return getattr(other_client, method)(
            path, data=json.dumps(body), content_type="application/json"
        )

    foreign, missing = call(endpoint.pk), call(uuid.uuid4())
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content == b'{"error":"not_found"}'
    after = (
        list(WebhookEndpoint.objects.values()),
        list(EndpointSecret.objects.values()),
        list(Delivery.objects.values()),
    )
    assert after == before


def test_a_tenant_cannot_create_for_another_tenant(tenant_client, other_tenant, tenant):
    response = post(tenant_client, BASE, {"url": URL, "tenant_id": str(other_tenant.pk)})
    assert response.status_code == 403
    assert response.json() == {"error": "forbidden"}
    own = post(tenant_client, BASE, {"url": URL, "tenant_id": str(tenant.pk)})
    assert own.status_code == 201
    assert WebhookEndpoint.objects.get().tenant == tenant


def test_a_platform_admin_creates_platform_wide_or_for_a_tenant(admin_client_api, tenant):
    wide = post(admin_client_api, BASE, {"url": URL})
    assert wide.status_code == 201
    assert wide.json()["endpoint"]["tenant_id"] is None
    scoped = post(admin_client_api, BASE, {"url": URL, "tenant_id": str(tenant.pk)})
    assert scoped.json()["endpoint"]["tenant_id"] == str(tenant.pk)
    unknown = post(admin_client_api, BASE, {"url": URL, "tenant_id": str(uuid.uuid4())})
    assert unknown.status_code == 422
    assert unknown.json() == {"error": {"tenant_id": ["Unknown tenant."]}}
    assert WebhookEndpoint.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": 12}, "url"),
        ({"url": ["x"]}, "url"),
        ({"url": "https://a.example.com/" + "x" * 2100}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": URL, "types": "deployment.*"}, "types"),
        ({"url": URL, "types": ["nope.*"]}, "types"),
        ({"url": URL, "types": ["deployment.created", 3]}, "types"),
        ({"url": URL, "types": ["deployment.*x"]}, "types"),
        ({"url": URL, "types": ["deployment.created"] * 40}, "types"),
        ({"url": URL, "description": 5}, "description"),
        ({"url": URL, "description": "x" * 501}, "description"),
        ({"url": URL, "tenant_id": 7}, "tenant_id"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_changes_nothing(tenant_client, body, field):
    response = post(tenant_client, BASE, body)
    assert response.status_code == 422, response.content
    assert field in response.json()["error"]
    assert not WebhookEndpoint.objects.exists()


def test_malformed_json_is_a_400(tenant_client):
    response = tenant_client.post(BASE, data="{", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"


def test_patch_changes_what_is_given(tenant_client, tenant):
    endpoint, _ = make_endpoint(tenant, URL, types=["resource.*"])
    response = patch(
        tenant_client, f"{BASE}/{endpoint.pk}", {"types": [], "description": "all of it"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["endpoint"]["types"] == []
    endpoint.refresh_from_db()
    assert (endpoint.types, endpoint.description, endpoint.url) == ([], "all of it", URL)


@pytest.mark.parametrize("body", [{"enabled": "false"}, {"enabled": 0}, {"types": [1]}])
def test_patch_is_strict(tenant_client, tenant, body):
    endpoint, _ = make_endpoint(tenant, URL)
    response = patch(tenant_client, f"{BASE}/{endpoint.pk}", body)
    assert response.status_code == 422
    endpoint.refresh_from_db()
    assert endpoint.enabled is True
    assert endpoint.types == []


def test_disabling_fails_pending_deliveries_and_enabling_clears_the_reason(tenant_client, tenant):
    endpoint, _ = make_endpoint(tenant, URL)
    event(tenant)
    from webhooks.dispatch import dispatch

    dispatch()
    off = patch(tenant_client, f"{BASE}/{endpoint.pk}", {"enabled": False})
    assert off.status_code == 200
    assert off.json()["endpoint"]["enabled"] is False
    assert off.json()["endpoint"]["disabled_reason"] == "Disabled by owner@acme.example."
    delivery = Delivery.objects.get()
    assert delivery.status == "failed"
    assert delivery.last_error.startswith("endpoint disabled")
    # resending to a disabled endpoint is refused
    retry = post(tenant_client, f"{BASE}/{endpoint.pk}/deliveries/{delivery.pk}/retry")
    assert (retry.status_code, retry.json()) == (409, {"error": "endpoint_disabled"})
    on = patch(tenant_client, f"{BASE}/{endpoint.pk}", {"enabled": True})
    assert on.json()["endpoint"]["enabled"] is True
    assert on.json()["endpoint"]["disabled_reason"] is None


def test_delete_removes_the_endpoint_its_secrets_and_deliveries(tenant_client, tenant):
    endpoint, _ = make_endpoint(tenant, URL)
    event(tenant)
    from webhooks.dispatch import dispatch

    dispatch()
    response = tenant_client.delete(f"{BASE}/{endpoint.pk}")
    assert response.status_code == 200
    assert response.json() == {"id": str(endpoint.pk), "deleted": True}
    assert not WebhookEndpoint.objects.exists()
    assert not EndpointSecret.objects.exists()
    assert not Delivery.objects.exists()
    assert tenant_client.get(f"{BASE}/{endpoint.pk}").status_code == 404


def test_rotate_returns_a_new_secret_and_keeps_the_old_one_24_hours(tenant_client, tenant):
    endpoint, old = make_endpoint(tenant, URL)
    response = post(tenant_client, f"{BASE}/{endpoint.pk}/rotate-secret")
    assert response.status_code == 200
    new = response.json()["secret"]
    assert new.startswith("whsec_")
    assert new != old
    secrets = dict(EndpointSecret.objects.values_list("secret", "expires_at"))
    assert secrets[new] is None
    assert secrets[old] is not None


def test_deliveries_are_listed_newest_first_with_their_state(tenant_client, tenant):
    endpoint, _ = make_endpoint(tenant, URL)
    deployment = uuid.uuid4()
    events = [event(tenant, deployment) for _ in range(3)]
    from webhooks.dispatch import dispatch

    dispatch()
    response = tenant_client.get(f"{BASE}/{endpoint.pk}/deliveries?limit=2")
    assert response.status_code == 200
    body = response.json()
    assert [d["event_id"] for d in body["deliveries"]] == [
        f"evt_{events[2].id}",
        f"evt_{events[1].id}",
    ]
    first = body["deliveries"][0]
    assert first["status"] == "pending"
    assert first["attempts"] == 0
    assert first["deployment_id"] == str(deployment)
    assert first["event_type"] == "deployment.transitioned"
    # it waits for the deployment's earlier deliveries: no attempt is scheduled
    assert first["next_attempt_at"] is None
    assert first["last_status_code"] is None
    rest = tenant_client.get(body["next"]).json()
    assert [d["event_id"] for d in rest["deliveries"]] == [f"evt_{events[0].id}"]
    assert rest["deliveries"][0]["next_attempt_at"] is not None  # the oldest is due
    bad = tenant_client.get(f"{BASE}/{endpoint.pk}/deliveries?cursor=zz")
    assert bad.status_code == 400


def test_retry_makes_a_finished_delivery_due_now(tenant_client, tenant):
    endpoint, _ = make_endpoint(tenant, URL)
    event(tenant)
    from webhooks.dispatch import dispatch

    dispatch()
    Delivery.objects.update(status="failed", attempts=13, next_attempt_at=None)
    delivery = Delivery.objects.get()
    response = post(tenant_client, f"{BASE}/{endpoint.pk}/deliveries/{delivery.pk}/retry")
    assert response.status_code == 200, response.content
    assert response.json()["delivery"]["status"] == "pending"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    missing = post(tenant_client, f"{BASE}/{endpoint.pk}/deliveries/999999/retry")
    assert missing.status_code == 404


def test_retry_refuses_a_delivery_in_flight(tenant_client, tenant):
    from django.utils import timezone

    endpoint, _ = make_endpoint(tenant, URL)
    event(tenant)
    from webhooks.dispatch import dispatch

    dispatch()
    lease = timezone.now() + timezone.timedelta(seconds=60)
    Delivery.objects.update(attempts=1, leased_until=lease, next_attempt_at=lease)
    delivery = Delivery.objects.get()
    response = post(tenant_client, f"{BASE}/{endpoint.pk}/deliveries/{delivery.pk}/retry")
    assert (response.status_code, response.json()) == (409, {"error": "delivery_in_flight"})
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == lease


def test_replay_schedules_the_matching_events_after_the_cursor(tenant_client, tenant, other_tenant):
    first = event(tenant)
    endpoint, _ = make_endpoint(tenant, URL, types=["deployment.*"])
    from webhooks.dispatch import dispatch

    later = [event(tenant), event(tenant, type_="resource.created"), event(other_tenant)]
    dispatch()
    Delivery.objects.update(status="succeeded", next_attempt_at=None)
    first.refresh_from_db()
    response = post(
        tenant_client, f"{BASE}/{endpoint.pk}/replay", {"after": f"1.{first.position - 1}"}
    )
    assert response.status_code == 200, response.content
    # its own tenant's deployment events from the cursor on, even those from
    # before the endpoint existed; the existing delivery is due again
    assert response.json() == {"scheduled": 2}
    rows = dict(Delivery.objects.values_list("event_id", "status"))
    assert rows == {first.id: "pending", later[0].id: "pending"}


@pytest.mark.parametrize(
    ("after", "status"), [("abc", 400), ("1.-1", 400), ("1.01", 400), (5, 422), ("", 422)]
)
def test_replay_refuses_a_malformed_cursor(tenant_client, tenant, after, status):
    endpoint, _ = make_endpoint(tenant, URL)
    response = post(tenant_client, f"{BASE}/{endpoint.pk}/replay", {"after": after})
    assert response.status_code == status
    body = response.json()
    assert "after" in (body["detail"] if status == 400 else body["error"])
    assert not Delivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_replay_of_an_expired_cursor_is_410(tenant_client, tenant):
    from feed.services import prune_events

    event(tenant)
    event(tenant)
    endpoint, _ = make_endpoint(tenant, URL)
    prune_events(retention_days=0)
    response = post(tenant_client, f"{BASE}/{endpoint.pk}/replay", {"after": "1.0"})
    assert response.status_code == 410
    assert response.json()["error"] == "cursor_expired"


def test_create_with_an_idempotency_key_replays_the_same_answer(tenant_client):
    first = post(tenant_client, BASE, {"url": URL}, HTTP_IDEMPOTENCY_KEY="hook-1")
    again = post(tenant_client, BASE, {"url": URL}, HTTP_IDEMPOTENCY_KEY="hook-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert WebhookEndpoint.objects.count() == 1
