"""Subscription status follows the deployment through the transition service."""

import pytest

from arcadia_cloud.actors import Actor
from deployments.services import create_subscription
from deployments.transitions import SUBSCRIPTION_STATUS_FOR_STATE, transition_state
from subscriptions.models import Subscription
from subscriptions.services import set_status_of_deployments
from tests.factories import make_deployment, put_in_state

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
        changed = set_status_of_deployments(deployment_ids=ids, status="paused")
    assert changed == 40
    assert set(Subscription.objects.values_list("status", flat=True)) == {"paused"}
    # no ids cost no query at all
    with django_assert_num_queries(0):
        assert set_status_of_deployments(deployment_ids=[], status="paused") == 0


def test_states_that_imply_no_status_leave_the_subscription_alone(deployment, subscription):
    # past_due, suspended and trial leave the status as it is: the map of
    # deployment state -> subscription status has no entry for them
    assert {"past_due", "suspended", "trial"}.isdisjoint(SUBSCRIPTION_STATUS_FOR_STATE)
    transition_state(deployment_id=deployment.pk, to_state="past_due", actor=OPERATOR)
    assert _status(subscription) == "active"


def test_follow_never_reactivates_a_cancelled_subscription(deployment, subscription):
    Subscription.objects.filter(pk=subscription.pk).update(status="cancelled")
    put_in_state(deployment, "paused")
    assert set_status_of_deployments(deployment_ids=[deployment.pk], status="active") == 0
    assert _status(subscription) == "cancelled"
