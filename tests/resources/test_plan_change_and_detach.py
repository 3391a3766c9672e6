"""A plan change or an add-on detach that would leave a kind's use over its
new limit is refused (422 quota_exceeded), through the API and the console;
one that fits goes through."""

from __future__ import annotations

import pytest

from deployments.errors import QuotaExceeded
from deployments.services import change_subscription_plan, detach_subscription_addon
from subscriptions.models import PlanChange, SubscriptionAddon
from tests.factories import SYSTEM_ACTOR
from tests.resources.conftest import make_resource, post_json

pytestmark = pytest.mark.django_db


def plan_of(deployment) -> str:
    deployment.subscription.refresh_from_db()
    return deployment.subscription.plan_version.plan.code


def line_of(deployment) -> SubscriptionAddon:
    return SubscriptionAddon.objects.get(subscription__deployment=deployment)


def test_a_downgrade_the_resources_do_not_fit_is_refused(subscribed):
    # hobby: 10 storage_gb included + the 50 GB line = 60; 61 in use
    make_resource(subscribed, qty=61)
    with pytest.raises(QuotaExceeded) as refused:
        change_subscription_plan(deployment_id=subscribed.pk, plan_code="hobby", actor=SYSTEM_ACTOR)
    assert refused.value.body() == {
        "error": "quota_exceeded",
        "resource_kind": "storage_gb",
        "limit": 60,
        "used": 61,
        "requested": 0,
    }
    assert plan_of(subscribed) == "studio"
    assert not PlanChange.objects.exists()


def test_a_downgrade_that_fits_goes_through(subscribed):
    make_resource(subscribed, qty=60)
    change_subscription_plan(deployment_id=subscribed.pk, plan_code="hobby", actor=SYSTEM_ACTOR)
    assert plan_of(subscribed) == "hobby"
    assert PlanChange.objects.count() == 1


def test_a_downgrade_checks_every_kind(subscribed):
    # hobby includes 1 seat and 0 GPU hours
    make_resource(subscribed, kind="gpu_hours", name="gpu", qty=1)
    with pytest.raises(QuotaExceeded) as refused:
        change_subscription_plan(deployment_id=subscribed.pk, plan_code="hobby", actor=SYSTEM_ACTOR)
    assert (refused.value.resource_kind, refused.value.limit) == ("gpu_hours", 0)


def test_a_detach_the_resources_need_is_refused(subscribed):
    make_resource(subscribed, qty=101)
    line = line_of(subscribed)
    with pytest.raises(QuotaExceeded) as refused:
        detach_subscription_addon(deployment_id=subscribed.pk, line_id=line.pk, actor=SYSTEM_ACTOR)
    assert (refused.value.limit, refused.value.used, refused.value.requested) == (100, 101, 0)
    line.refresh_from_db()
    assert line.detached_at is None


def test_a_detach_they_do_not_need_goes_through(subscribed):
    make_resource(subscribed, qty=100)
    line = line_of(subscribed)
    detach_subscription_addon(deployment_id=subscribed.pk, line_id=line.pk, actor=SYSTEM_ACTOR)
    line.refresh_from_db()
    assert line.detached_at is not None


def test_the_api_answers_quota_exceeded_for_a_plan_change(subscribed, tenant_client):
    make_resource(subscribed, qty=61)
    response = post_json(
        tenant_client,
        f"/api/v1/deployments/{subscribed.pk}/subscription/change-plan",
        {"plan_code": "hobby"},
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": "quota_exceeded",
        "resource_kind": "storage_gb",
        "limit": 60,
        "used": 61,
        "requested": 0,
    }
    assert plan_of(subscribed) == "studio"


def test_the_api_answers_quota_exceeded_for_a_detach(subscribed, tenant_client):
    make_resource(subscribed, qty=101)
    line = line_of(subscribed)
    response = tenant_client.delete(
        f"/api/v1/deployments/{subscribed.pk}/subscription/addons/{line.pk}"
    )
    assert response.status_code == 422
    assert response.json()["error"] == "quota_exceeded"
    line.refresh_from_db()
    assert line.detached_at is None


def test_the_console_plan_change_is_refused_the_same_way(subscribed, superuser_client):
    from catalog.models import PlanVersion

    make_resource(subscribed, qty=61)
    hobby = PlanVersion.objects.filter(plan__code="hobby").order_by("-version").first()
    url = f"/admin/subscriptions/subscription/{subscribed.subscription.pk}/change-plan/"
    choice = {"target": str(hobby.pk), "effective": "now", "reason": "downgrade"}
    for step in ("preview", "apply"):
        response = superuser_client.post(url, {**choice, step: "1"})
        assert response.status_code == 200
        page = response.content.decode()
        assert "in use, but the new plan allows" in page  # the figures, in words
        assert "quota_exceeded" not in page
    assert plan_of(subscribed) == "studio"
