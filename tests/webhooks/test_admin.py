"""Webhooks in the console: read-only lists, failures first, no secret on any
page, and a retry action that goes through the service."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.conftest import logged_in
from tests.factories import IdentityFactory
from tests.webhooks.conftest import make_endpoint
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:8139/hooks"
DELIVERIES = reverse("admin:webhooks_delivery_changelist")
ENDPOINTS = reverse("admin:webhooks_webhookendpoint_changelist")


def deliveries(endpoint, statuses):
    now = timezone.now()
    rows = []
    for i, status in enumerate(statuses):
        rows.append(
            Delivery.objects.create(
                endpoint=endpoint,
                event_id=1000 + i + Delivery.objects.count(),
                position=1000 + i,
                event_type="deployment.created",
                status=status,
                attempts=1 if status != "pending" else 0,
                scheduled_at=now,
                created_at=now,
                next_attempt_at=now if status == "pending" else None,
                last_status_code=500 if status == "failed" else None,
            )
        )
    return rows


def test_failures_come_first_and_no_secret_is_shown(superuser_client, tenant):
    endpoint, secret = make_endpoint(tenant, URL)
    ok, failed, pending = deliveries(endpoint, ["succeeded", "failed", "pending"])
    response = superuser_client.get(DELIVERIES)
    assert response.status_code == 200
    listed = [row.pk for row in response.context["cl"].result_list]
    assert listed == [failed.pk, pending.pk, ok.pk]
    for page in (
        ENDPOINTS,
        reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]),
        reverse("admin:webhooks_delivery_change", args=[failed.pk]),
    ):
        answer = superuser_client.get(page)
        assert answer.status_code == 200
        assert secret not in answer.content.decode()


def test_the_retry_action_makes_failed_deliveries_due(superuser_client, tenant):
    endpoint, _ = make_endpoint(tenant, URL)
    failed, ok = deliveries(endpoint, ["failed", "succeeded"])
    response = superuser_client.post(
        DELIVERIES,
        {"action": "retry", "_selected_action": [failed.pk, ok.pk]},
        follow=True,
    )
    assert response.status_code == 200
    failed.refresh_from_db()
    ok.refresh_from_db()
    assert (failed.status, failed.attempts) == ("pending", 0)
    assert failed.next_attempt_at is not None
    assert ok.status == "pending"  # a succeeded one is resent too (same webhook-id)
    messages = [str(m) for m in response.context["messages"]]
    assert messages == ["2 made due now; 0 skipped (in flight, or the endpoint is disabled)."]


def test_only_staff_with_the_retry_permission_get_the_action(tenant):
    endpoint, _ = make_endpoint(tenant, URL)
    [failed] = deliveries(endpoint, ["failed"])
    viewer = IdentityFactory(email="support@arcadia.example", tenant=tenant, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    client = logged_in(viewer)
    page = client.get(DELIVERIES)
    assert page.status_code == 200
    assert "retry" not in page.context["cl"].model_admin.get_actions(page.wsgi_request)
    forged = client.post(DELIVERIES, {"action": "retry", "_selected_action": [failed.pk]})
    assert forged.status_code in (200, 302)
    failed.refresh_from_db()
    assert failed.status == "failed"


def test_the_lists_cost_the_same_queries_for_few_and_many_rows(superuser_client, tenant):
    def count(url):
        with CaptureQueriesContext(connection) as ctx:
            assert superuser_client.get(url).status_code == 200
        return len(ctx.captured_queries)

    endpoint, _ = make_endpoint(tenant, URL)
    deliveries(endpoint, ["failed", "pending"])
    few = (count(DELIVERIES), count(ENDPOINTS))
    for i in range(10):
        more, _ = make_endpoint(tenant, f"{URL}/{i}")
        deliveries(more, ["failed", "succeeded", "pending"])
    assert (count(DELIVERIES), count(ENDPOINTS)) == few
