"""A catalog change never reprices an existing subscriber, and does price the next one."""

import pytest

from catalog.models import Addon, Plan
from catalog.services import (
    create_plan_version,
    publish_plan_version,
    update_addon,
)
from deployments.services import create_subscription
from subscriptions.selectors import get_subscription_for_deployment
from subscriptions.services import attach_addon
from subscriptions.shapes import render_subscription
from tests.factories import make_deployment

pytestmark = pytest.mark.usefixtures("seeded")


def test_new_plan_version_prices_new_subscribers_only(tenant, system_actor):
    early = make_deployment(tenant, slug="early")
    late = make_deployment(tenant, slug="late")
    create_subscription(deployment_id=early.pk, plan_code="studio", actor=system_actor)
    # when studio's price changes: a new version, published
    v2 = create_plan_version(plan=Plan.objects.get(code="studio"), price_cents=5900, currency="USD")
    publish_plan_version(plan_version=v2)
    create_subscription(deployment_id=late.pk, plan_code="studio", actor=system_actor)
    early_terms = payload_of(early.pk)
    late_terms = payload_of(late.pk)
    assert (early_terms["plan_version"], early_terms["price_cents"]) == (1, 4900)
    assert (late_terms["plan_version"], late_terms["price_cents"]) == (2, 5900)


def test_addon_price_qty_and_currency_changes_reach_future_attaches_only(tenant, system_actor):
    deployment = make_deployment(tenant, slug="store")
    subscription = create_subscription(
        deployment_id=deployment.pk,
        plan_code="team",
        addon_codes=["storage_500gb"],
        actor=system_actor,
    )
    storage = Addon.objects.get(code="storage_500gb")
    update_addon(addon=storage, qty=400, name="Extra storage 400 GB")
    update_addon(addon=storage, price_cents=5000)
    attach_addon(subscription=subscription, addon_code="storage_500gb", actor=system_actor)
    lines = payload_of(deployment.pk)["addons"]
    assert [(a["qty"], a["price_cents"]) for a in lines] == [(500, 6000), (400, 5000)]
    assert {a["addon_id"] for a in lines} == {storage.id}


@pytest.mark.django_db
def test_subscribing_costs_the_same_queries_for_one_addon_and_for_many(
    seeded, tenant, system_actor
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from subscriptions.models import SubscriptionAddon

    counts = []
    for n, slug in ((1, "one"), (12, "many")):
        deployment = make_deployment(tenant, slug=slug)
        with CaptureQueriesContext(connection) as captured:
            create_subscription(
                deployment_id=deployment.pk,
                plan_code="studio",
                addon_codes=["storage_50gb"] * n,
                actor=system_actor,
            )
        counts.append(len(captured))
        assert SubscriptionAddon.objects.filter(subscription__deployment=deployment).count() == n
    # plan version, add-ons on sale, savepoint, deployment lock, existing
    # subscription, insert, savepoint, subscription lock, add-ons on sale, one
    # multi-row insert of the lines, releases; the feed: the subscription's
    # shape (subscription, lines, pending changes) and one event for the
    # creation, the shape again and one statement for every attached line's
    # event: the same for 1 line and for 12
    assert counts[0] == counts[1], counts
    assert counts[1] <= 22


def payload_of(deployment_id):
    """The subscription's API shape, as the show endpoint renders it."""
    return render_subscription(get_subscription_for_deployment(deployment_id))
