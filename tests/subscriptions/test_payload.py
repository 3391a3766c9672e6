"""The subscription's API shape on the deployment show endpoint: a hot path,
pinned to two queries whatever the number of add-ons."""

import pytest

from deployments.api.subscription_rendering import SubscriptionAddonOut, SubscriptionOut
from deployments.services import create_subscription
from subscriptions.selectors import get_subscription_for_deployment
from subscriptions.services import attach_addon
from subscriptions.shapes import render_subscription

pytestmark = pytest.mark.usefixtures("seeded")


@pytest.fixture
def subscription(deployment, system_actor):
    subscription = create_subscription(
        deployment_id=deployment.pk,
        plan_code="studio",
        addon_codes=["storage_50gb", "seats_5"],
        actor=system_actor,
    )
    for _ in range(8):
        attach_addon(subscription=subscription, addon_code="gpu_hours_10", actor=system_actor)
    return subscription


def test_payload_is_two_queries(deployment, subscription, django_assert_max_num_queries):
    # 1: subscription JOIN plan_version JOIN plan; 2: its add-on lines;
    # 3: its pending changes
    with django_assert_max_num_queries(3):
        payload = payload_of(deployment.pk)
    assert len(payload["addons"]) == 10
    assert set(payload) == set(SubscriptionOut().fields)
    assert set(payload["addons"][0]) == set(SubscriptionAddonOut().fields)
    assert payload["plan_code"] == "studio"


def test_no_subscription_is_none_in_one_query(deployment, django_assert_max_num_queries):
    # 1: subscription JOIN plan_version JOIN plan (no row)
    with django_assert_max_num_queries(1):
        assert payload_of(deployment.pk) is None


def test_deployment_show_embeds_the_subscription(tenant_client, deployment, subscription):
    body = tenant_client.get(f"/api/v1/deployments/{deployment.pk}").json()
    shown = body["subscription"]
    # the SPEC's subscription shape, typed in, and values from the database
    assert set(shown) == {
        "id", "status", "plan_code", "plan_version_id", "plan_version", "price_cents",
        "currency", "current_period_start", "current_period_end", "trial_ends_at", "addons",
        "pending_changes",
    }  # fmt: skip
    assert shown["id"] == subscription.pk
    assert shown["status"] == "active"
    assert shown["plan_code"] == "studio"
    assert shown["plan_version_id"] == subscription.plan_version_id
    assert shown["price_cents"] == subscription.plan_version.price_cents
    assert shown["current_period_start"] == subscription.current_period_start.isoformat()
    assert [a["code"] for a in body["subscription"]["addons"][:2]] == ["storage_50gb", "seats_5"]


def test_deployment_show_without_subscription_is_null(tenant_client, tenant):
    from tests.factories import make_deployment

    bare = make_deployment(tenant, slug="bare")
    assert tenant_client.get(f"/api/v1/deployments/{bare.pk}").json()["subscription"] is None


@pytest.mark.django_db
def test_the_revenue_report_equals_the_sum_of_each_active_subscriptions_monthly_total(
    seeded, tenant, system_actor
):
    # The two billing aggregates (one subscription's total, the MRR report) are
    # computed separately (Python and SQL): they must agree.
    from arcadia_cloud.actors import Actor
    from billing.selectors import (
        monthly_recurring_revenue,
        monthly_total_by_currency,
        revenue_totals,
    )
    from deployments.transitions import transition_state
    from subscriptions.selectors import addons_of, get_subscription_for_deployment
    from tests.factories import make_deployment

    plans = [("studio", ["storage_50gb"]), ("studio", []), ("team", ["storage_50gb"] * 3)]
    deployments = []
    for n, (plan, addons) in enumerate(plans):
        deployment = make_deployment(tenant, slug=f"rev-{n}")
        create_subscription(
            deployment_id=deployment.pk, plan_code=plan, addon_codes=addons, actor=system_actor
        )
        deployments.append(deployment)
    paused = make_deployment(tenant, slug="rev-paused")  # not active: not in MRR
    create_subscription(
        deployment_id=paused.pk, plan_code="team", addon_codes=["storage_50gb"], actor=system_actor
    )
    transition_state(
        deployment_id=paused.pk,
        to_state="paused",
        actor=Actor(kind="operator", label="ops@arcadia.example"),
    )

    expected: dict[str, int] = {}
    for deployment in deployments:
        subscription = get_subscription_for_deployment(deployment.pk)
        for currency, cents in monthly_total_by_currency(
            subscription, list(addons_of(subscription.pk))
        ).items():
            expected[currency] = expected.get(currency, 0) + cents
    assert expected
    assert revenue_totals(monthly_recurring_revenue()) == expected


def payload_of(deployment_id):
    """The subscription's API shape, as the show endpoint renders it."""
    return render_subscription(get_subscription_for_deployment(deployment_id))
