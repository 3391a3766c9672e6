"""Subscription status follows the deployment through the transition service."""

import pytest

from arcadia_cloud.actors import Actor
from deployments.transitions import transition_state
from subscriptions.models import Subscription
from subscriptions.services import create_subscription, follow_deployment_state
from tests.factories import force_state, make_deployment

pytestmark = pytest.mark.usefixtures("seeded")

OPERATOR = Actor(kind="operator", label="ops@arcadia.example")


@pytest.fixture
def subscription(deployment, system_actor):
    return create_subscription(deployment_id=deployment.pk, plan_code="studio", actor=system_actor)


def _status(subscription) -> str:
    return Subscription.objects.values_list("status", flat=True).get(pk=subscription.pk)


def test_pause_resume_cancel_archive(deployment, subscription):
    steps = [
        ("paused", "paused"),
        ("active", "active"),
        ("past_due", "active"),  # past_due leaves the subscription alone
        ("suspended", "active"),  # so does suspended
        ("cancelled", "cancelled"),
        ("archived", "cancelled"),
    ]
    for to_state, expected in steps:
        transition_state(deployment_id=deployment.pk, to_state=to_state, actor=OPERATOR)
        assert _status(subscription) == expected, to_state


def test_tenant_pause_and_resume_moves_the_subscription(tenant, deployment, subscription):
    owner = Actor(kind="tenant", label="owner@acme.example", tenant_id=tenant.id)
    transition_state(deployment_id=deployment.pk, to_state="paused", actor=owner)
    assert _status(subscription) == "paused"
    transition_state(deployment_id=deployment.pk, to_state="active", actor=owner)
    assert _status(subscription) == "active"
    transition_state(deployment_id=deployment.pk, to_state="cancelled", actor=owner)
    assert _status(subscription) == "cancelled"


def test_paused_subscription_is_cancelled_with_its_deployment(deployment, subscription):
    transition_state(deployment_id=deployment.pk, to_state="paused", actor=OPERATOR)
    transition_state(deployment_id=deployment.pk, to_state="cancelled", actor=OPERATOR)
    assert _status(subscription) == "cancelled"


def test_a_refused_transition_leaves_the_subscription_alone(deployment, subscription):
    from deployments.errors import InvalidTransition

    with pytest.raises(InvalidTransition):
        transition_state(deployment_id=deployment.pk, to_state="archived", actor=OPERATOR)
    assert _status(subscription) == "active"


def test_deployment_without_subscription_transitions_fine(tenant):
    lonely = make_deployment(tenant, slug="lonely")
    transition_state(deployment_id=lonely.pk, to_state="paused", actor=OPERATOR)
    assert not Subscription.objects.filter(deployment=lonely).exists()


def test_follow_is_one_update_for_a_whole_batch(tenant, system_actor, django_assert_num_queries):
    deployments = [make_deployment(tenant, slug=f"batch-{n}") for n in range(40)]
    for d in deployments:
        create_subscription(deployment_id=d.pk, plan_code="hobby", actor=system_actor)
    ids = [d.pk for d in deployments]
    # 1: UPDATE subscriptions SET status='paused' WHERE deployment_id IN (...) AND status...
    with django_assert_num_queries(1):
        changed = follow_deployment_state(deployment_ids=ids, deployment_state="paused")
    assert changed == 40
    assert set(Subscription.objects.values_list("status", flat=True)) == {"paused"}
    # states that imply no status change cost no query at all
    with django_assert_num_queries(0):
        assert follow_deployment_state(deployment_ids=ids, deployment_state="past_due") == 0
        assert follow_deployment_state(deployment_ids=[], deployment_state="paused") == 0


def test_follow_never_reactivates_a_cancelled_subscription(deployment, subscription):
    Subscription.objects.filter(pk=subscription.pk).update(status="cancelled")
    force_state(deployment, "paused")
    assert follow_deployment_state(deployment_ids=[deployment.pk], deployment_state="active") == 0
    assert _status(subscription) == "cancelled"
