"""Per-token rate limits: 429 with Retry-After, separate read/write budgets,
one query per request, off switch, and a shared count under concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from arcadia_cloud.api import throttling
from arcadia_cloud.api.throttling import parse_rate
from tests.conftest import requires_postgres
from tests.factories import IdentityFactory, TenantFactory, token_for
from tests.reliability.conftest import bearer, post_json

pytestmark = pytest.mark.django_db


#: Mid-minute and mid-hour, so no window boundary falls between a test's requests.
FROZEN_NOW = 1_800_001_830.0


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock (only the throttle's: the global time.time is untouched)."""
    now = {"t": FROZEN_NOW}
    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: now["t"]))
    return now


@pytest.fixture
def rates(settings, clock):
    def set_rates(read="off", write="off"):
        settings.ARCADIA_THROTTLE_READ = read
        settings.ARCADIA_THROTTLE_WRITE = write

    return set_rates


def test_reads_over_the_rate_get_429_with_retry_after(rates, tenant_client):
    rates(read="3/min")
    assert [tenant_client.get("/api/v1/me").status_code for _ in range(3)] == [200] * 3
    refused = tenant_client.get("/api/v1/me")
    assert refused.status_code == 429
    wait = refused.json()["retry_after"]
    assert refused.json() == {"error": "throttled", "retry_after": wait}
    assert 1 <= wait <= 60
    assert refused["Retry-After"] == str(wait)
    assert refused["X-Request-Id"]


def test_the_budget_is_per_token(rates, tenant_client, tenant_identity):
    rates(read="1/min")
    assert tenant_client.get("/api/v1/me").status_code == 200
    assert tenant_client.get("/api/v1/me").status_code == 429
    second_token = bearer(token_for(tenant_identity, name="ci"))
    assert second_token.get("/api/v1/me").status_code == 200


def test_reads_and_writes_have_separate_budgets(rates, tenant_client):
    rates(read="1/min", write="1/min")
    body = {"slug": "web", "display_name": "Web", "region": "us-east-1"}
    assert tenant_client.get("/api/v1/me").status_code == 200
    assert post_json(tenant_client, "/api/v1/deployments", body).status_code == 201
    assert tenant_client.get("/api/v1/me").status_code == 429
    refused = post_json(tenant_client, "/api/v1/deployments", {**body, "slug": "two"})
    assert refused.status_code == 429
    from deployments.models import Deployment

    assert Deployment.objects.count() == 1


def test_posts_with_idempotency_keys_count_against_the_write_rate(rates, tenant_client):
    rates(write="2/min")
    for n in (1, 2):
        response = post_json(
            tenant_client,
            "/api/v1/deployments",
            {"slug": f"app-{n}", "display_name": "App", "region": "us-east-1"},
            HTTP_IDEMPOTENCY_KEY=f"k{n}",
        )
        assert response.status_code == 201
    third = post_json(
        tenant_client,
        "/api/v1/deployments",
        {"slug": "app-3", "display_name": "App", "region": "us-east-1"},
        HTTP_IDEMPOTENCY_KEY="k3",
    )
    assert third.status_code == 429
    assert third["Retry-After"] == str(third.json()["retry_after"])


def test_the_window_resets(rates, tenant_client, clock):
    rates(read="1/min")
    clock["t"] = 1_800_000_000.0  # the first second of a minute
    assert tenant_client.get("/api/v1/me").status_code == 200
    assert tenant_client.get("/api/v1/me").json() == {"error": "throttled", "retry_after": 60}
    clock["t"] += 60
    assert tenant_client.get("/api/v1/me").status_code == 200


def test_throttle_costs_one_query_and_none_when_off(
    rates, tenant_client, django_assert_num_queries
):
    tenant_client.get("/api/v1/me")  # last_used_at written once, outside the counts
    rates(read="off")
    with django_assert_num_queries(1):  # token lookup
        unthrottled = tenant_client.get("/api/v1/me")
    rates(read="1000/min")
    with django_assert_num_queries(2):  # token lookup, counter upsert
        counted = tenant_client.get("/api/v1/me")
    assert (unthrottled.status_code, counted.status_code) == (200, 200)


def test_anonymous_requests_are_refused_before_counting(rates, anon_client):
    from arcadia_cloud.models import ThrottleBucket

    rates(read="1/min")
    for _ in range(3):
        assert anon_client.get("/api/v1/me").status_code == 401
    assert not ThrottleBucket.objects.exists()


@pytest.mark.parametrize("rate", ["ten/min", "5/fortnight", "5", "0/min", "-1/s"])
def test_a_bad_rate_is_a_configuration_error(rate):
    with pytest.raises(ImproperlyConfigured):
        parse_rate(rate)


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [("1200/min", (1200, 60)), ("300/minute", (300, 60)), ("5/s", (5, 1)), ("9/day", (9, 86400))],
)
def test_rates_parse(rate, parsed):
    assert parse_rate(rate) == parsed
    assert parse_rate("off") is None


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_count_is_shared_by_concurrent_requests(settings, clock):
    settings.ARCADIA_THROTTLE_READ = "10/hour"
    raw = token_for(IdentityFactory(email="a@busy.example", tenant=TenantFactory(slug="busy")))
    barrier = threading.Barrier(16)

    def call(_):
        try:
            barrier.wait()
            return bearer(raw).get("/api/v1/me").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = sorted(pool.map(call, range(16)))
    assert codes == [200] * 10 + [429] * 6
