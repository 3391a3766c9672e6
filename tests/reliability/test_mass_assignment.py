"""Read-only fields sent in request bodies change nothing (asserted in the database)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.models import Deployment, DeploymentEvent
from tests.reliability.conftest import post_json

pytestmark = pytest.mark.django_db

READ_ONLY = {
    "id": "11111111-1111-1111-1111-111111111111",
    "state": "suspended",
    "state_since": "2000-01-01T00:00:00Z",
    "billing_action_suspended": True,
    "created_at": "2000-01-01T00:00:00Z",
    "updated_at": "2000-01-01T00:00:00Z",
    "allowed_transitions": ["archived"],
    "events": [{"to_state": "archived"}],
}


def test_create_ignores_read_only_fields(tenant_client, tenant):
    response = post_json(
        tenant_client,
        "/api/v1/deployments",
        {"slug": "web", "display_name": "Web", "region": "us-east-1", **READ_ONLY},
    )
    assert response.status_code == 201
    deployment = Deployment.objects.get()
    assert deployment.id != uuid.UUID(READ_ONLY["id"])
    assert deployment.tenant_id == tenant.id
    assert deployment.state == "active"
    assert deployment.billing_action_suspended is False
    assert timezone.now() - deployment.created_at < timedelta(minutes=1)
    assert timezone.now() - deployment.state_since < timedelta(minutes=1)
    assert list(deployment.events.values_list("from_state", "to_state")) == [(None, "active")]
    assert response.json()["deployment"]["id"] == str(deployment.id)


def test_tenant_cannot_create_in_another_tenant(tenant_client, other_tenant):
    response = post_json(
        tenant_client,
        "/api/v1/deployments",
        {
            "slug": "web",
            "display_name": "W",
            "region": "us-east-1",
            "tenant_id": str(other_tenant.id),
        },
    )
    assert (response.status_code, response.json()) == (403, {"error": "forbidden"})
    assert Deployment.objects.count() == 0


def test_tenant_cannot_create_in_trial(tenant_client):
    # `state` is read-only on create: a trial cannot be requested through the body.
    response = post_json(
        tenant_client,
        "/api/v1/deployments",
        {"slug": "web", "display_name": "W", "region": "us-east-1", "initial_state": "trial"},
    )
    assert response.status_code == 201
    assert Deployment.objects.get().state == "active"


def test_transition_changes_only_the_state(tenant_client, deployment, other_tenant):
    before = Deployment.objects.values().get(pk=deployment.pk)
    response = post_json(
        tenant_client,
        f"/api/v1/deployments/{deployment.pk}/transition",
        {
            "to_state": "paused",
            "tenant_id": str(other_tenant.id),
            "slug": "renamed",
            "display_name": "Renamed",
            "region": "eu-west-1",
            "llm_mode": "disabled",
            **READ_ONLY,
        },
    )
    assert response.status_code == 200
    after = Deployment.objects.values().get(pk=deployment.pk)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {"state", "state_since", "updated_at"}
    assert after["state"] == "paused"
    assert list(
        DeploymentEvent.objects.filter(deployment=deployment).values_list("to_state", flat=True)
    ) == ["active", "paused"]


def test_subscribe_takes_prices_from_the_catalog_not_the_body(tenant_client, deployment):
    from django.core.management import call_command

    from catalog.models import Addon
    from subscriptions.models import Subscription

    call_command("seed_catalog", verbosity=0)
    response = post_json(
        tenant_client,
        f"/api/v1/deployments/{deployment.pk}/subscribe",
        {
            "plan_code": "studio",
            "addons": ["storage_50gb"],
            "price_cents": 1,
            "currency": "XXX",
            "status": "cancelled",
            "id": 999,
            "plan_version_id": 999,
            "current_period_end": "2999-01-01",
            "addon_prices": {"storage_50gb": 0},
            "deployment_id": "11111111-1111-1111-1111-111111111111",
        },
    )
    assert response.status_code == 201, response.content
    subscription = Subscription.objects.get(deployment=deployment)
    assert subscription.status == "active"
    assert subscription.plan_version.plan.code == "studio"
    assert subscription.pk != 999
    assert str(subscription.current_period_end) != "2999-01-01"
    addon = subscription.addons.get()
    live = Addon.objects.get(code="storage_50gb")
    assert (addon.price_cents, addon.currency, addon.qty) == (live.price_cents, live.currency, 50)
    assert response.json()["subscription"]["price_cents"] == subscription.plan_version.price_cents
