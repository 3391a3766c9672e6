"""GET /api/v1/plans and /api/v1/addons: what is on sale, at today's price."""

import pytest

from catalog.api.serializers import AddonOut, PlanOut, PlanVersionOut
from catalog.models import Addon, Plan, PlanVersion
from catalog.services import (
    create_plan,
    create_plan_version,
    publish_plan_version,
    retire_plan_version,
    update_addon,
)

pytestmark = pytest.mark.usefixtures("seeded")


def test_plans_list_active_versions_cheapest_first(tenant_client):
    response = tenant_client.get("/api/v1/plans")
    assert response.status_code == 200
    plans = response.json()["plans"]
    assert [p["code"] for p in plans] == ["hobby", "studio", "team", "enterprise"]
    studio = next(p for p in plans if p["code"] == "studio")
    version = PlanVersion.objects.get(plan__code="studio")
    assert studio == {
        "code": "studio",
        "name": "Studio",
        "description": Plan.objects.get(code="studio").description,
        "active_version": {
            "id": version.id,
            "version": 1,
            "price_cents": version.price_cents,
            "currency": "USD",
            "interval": "month",
            "included_quotas": version.included_quotas,
            "trial_days": version.trial_days,
            "trial_end_behavior": version.trial_end_behavior,
            "published_at": version.published_at.isoformat().replace("+00:00", "Z"),
        },
    }
    # the rendered shape is exactly the documented one
    assert set(studio) == set(PlanOut().fields)
    assert set(studio["active_version"]) == set(PlanVersionOut().fields)


def test_plans_show_the_newest_published_version_only(tenant_client):
    studio = Plan.objects.get(code="studio")
    v2 = publish_plan_version(
        plan_version=create_plan_version(plan=studio, price_cents=5900, currency="USD")
    )
    create_plan_version(plan=studio, price_cents=9900, currency="USD")  # a draft v3
    retire_plan_version(plan_version=PlanVersion.objects.get(plan__code="hobby"))
    draft_only = create_plan(code="beta", name="Beta")
    create_plan_version(plan=draft_only, price_cents=1, currency="USD")
    plans = {p["code"]: p for p in tenant_client.get("/api/v1/plans").json()["plans"]}
    assert set(plans) == {"studio", "team", "enterprise"}
    assert plans["studio"]["active_version"]["id"] == v2.id
    assert plans["studio"]["active_version"]["price_cents"] == 5900


def test_addons_list_active_at_current_price(tenant_client, other_client):
    Addon.objects.filter(code="backups_daily").update(active=False)
    update_addon(addon=Addon.objects.get(code="storage_50gb"), price_cents=900)
    response = tenant_client.get("/api/v1/addons")
    assert response.status_code == 200
    addons = {a["code"]: a for a in response.json()["addons"]}
    assert "backups_daily" not in addons
    storage = Addon.objects.get(code="storage_50gb")
    assert addons["storage_50gb"] == {
        "id": storage.id,
        "code": "storage_50gb",
        "name": storage.name,
        "resource_kind": "storage_gb",
        "qty": 50,
        "price_cents": 900,
        "currency": "USD",
    }
    assert set(addons["storage_50gb"]) == set(AddonOut().fields)
    # the catalog is the same for every tenant
    assert other_client.get("/api/v1/addons").json() == response.json()


def test_catalog_is_readable_by_platform_admin(admin_client_api):
    assert admin_client_api.get("/api/v1/plans").status_code == 200
    assert admin_client_api.get("/api/v1/addons").status_code == 200


def test_catalog_is_read_only(tenant_client):
    for path in ("/api/v1/plans", "/api/v1/addons"):
        response = tenant_client.post(path, {"code": "free"}, format="json")
        assert response.status_code == 405
        assert response.json() == {"error": "method_not_allowed"}
    assert not Plan.objects.filter(code="free").exists()


def test_plans_query_count_does_not_grow_with_the_catalog(
    tenant_client, django_assert_max_num_queries
):
    for n in range(10):
        plan = create_plan(code=f"extra_{n}", name=f"Extra {n}")
        for price in (100, 200):
            publish_plan_version(
                plan_version=create_plan_version(plan=plan, price_cents=price, currency="USD")
            )
    # 1 token lookup (+1 last-used update on the token's first use), 1 plans,
    # 1 live versions (prefetch), whatever the number of plans and versions
    with django_assert_max_num_queries(4):
        response = tenant_client.get("/api/v1/plans")
    assert len(response.json()["plans"]) == 14


def test_addons_query_count(tenant_client, django_assert_max_num_queries):
    # 1 token lookup (+1 last-used update on the token's first use), 1 add-ons
    with django_assert_max_num_queries(3):
        response = tenant_client.get("/api/v1/addons")
    assert len(response.json()["addons"]) == 7
