"""Entitlements: one function computes limit and use per kind from the plan
version's quotas, the attached (not detached) add-on lines and the resources
that are not deleted; the API answers it."""

from __future__ import annotations

import pytest

from deployments.entitlements import entitlements_of
from deployments.resources import delete_resource
from deployments.services import detach_subscription_addon
from subscriptions.models import SubscriptionAddon
from subscriptions.services import attach_addon
from tests.factories import SYSTEM_ACTOR
from tests.resources.conftest import make_resource

pytestmark = pytest.mark.django_db


def figures(deployment) -> dict:
    return {
        e.resource_kind: (e.included, e.addons, e.limit, e.used)
        for e in entitlements_of(deployment.pk)
    }


def test_limit_is_plan_quota_plus_attached_lines_and_used_counts_live_resources(subscribed):
    make_resource(subscribed, name="uploads", qty=60)
    make_resource(subscribed, name="db", qty=30)
    gone = make_resource(subscribed, name="old", qty=40)
    delete_resource(resource_id=gone.pk, actor=SYSTEM_ACTOR)
    assert figures(subscribed) == {
        "storage_gb": (100, 50, 150, 90),
        "seats": (5, 0, 5, 0),
        "gpu_hours": (10, 0, 10, 0),
        "llm_tokens_k": (5000, 0, 5000, 0),
    }


def test_stacked_lines_add_up_and_detached_ones_do_not_count(subscribed):
    subscription = subscribed.subscription
    attach_addon(subscription=subscription, addon_code="storage_50gb", actor=SYSTEM_ACTOR)
    attach_addon(subscription=subscription, addon_code="backups_daily", actor=SYSTEM_ACTOR)
    assert figures(subscribed)["storage_gb"] == (100, 100, 200, 0)
    assert figures(subscribed)["backup_days"] == (0, 30, 30, 0)
    first = SubscriptionAddon.objects.filter(subscription=subscription, code="storage_50gb").first()
    detach_subscription_addon(deployment_id=subscribed.pk, line_id=first.pk, actor=SYSTEM_ACTOR)
    assert figures(subscribed)["storage_gb"] == (100, 50, 150, 0)


def test_without_a_subscription_every_limit_is_zero(catalog, deployment):
    assert figures(deployment) == {}
    entitlement = entitlements_of(deployment.pk).of("storage_gb")
    assert (entitlement.limit, entitlement.used) == (0, 0)


def test_the_api_answers_every_kind(subscribed, tenant_client, django_assert_max_num_queries):
    make_resource(subscribed, qty=25)
    url = f"/api/v1/deployments/{subscribed.pk}/entitlements"
    tenant_client.get(url)  # the token's first use writes its last_used_at
    # token, the deployment in scope, the plan version's quotas, the add-on
    # sums, the resource sums
    with django_assert_max_num_queries(5):
        response = tenant_client.get(url)
    assert response.status_code == 200
    assert response.json() == {
        "entitlements": [
            {"resource_kind": "gpu_hours", "included": 10, "addons": 0, "limit": 10, "used": 0},
            {
                "resource_kind": "llm_tokens_k",
                "included": 5000,
                "addons": 0,
                "limit": 5000,
                "used": 0,
            },
            {"resource_kind": "seats", "included": 5, "addons": 0, "limit": 5, "used": 0},
            {
                "resource_kind": "storage_gb",
                "included": 100,
                "addons": 50,
                "limit": 150,
                "used": 25,
            },
        ]
    }


def test_a_deployment_without_subscription_answers_an_empty_list(deployment, tenant_client):
    response = tenant_client.get(f"/api/v1/deployments/{deployment.pk}/entitlements")
    assert (response.status_code, response.json()) == (200, {"entitlements": []})


def test_another_tenants_entitlements_are_not_found(foreign_subscribed, tenant_client):
    response = tenant_client.get(f"/api/v1/deployments/{foreign_subscribed.pk}/entitlements")
    assert (response.status_code, response.json()) == (404, {"error": "not_found"})
