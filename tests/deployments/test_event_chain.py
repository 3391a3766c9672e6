"""The audit trail is one unbroken path: after any sequence of attempted moves by
any role, each event's from_state is the previous event's to_state, the first
from_state is null, the last to_state is the deployment's state, and there is
exactly one event per successful move."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployments.errors import InvalidTransition, StateConflict, TransitionForbidden
from deployments.models import Deployment, DeploymentEvent
from deployments.transitions import transition_state
from tests.deployments.helpers import assert_chain_contiguous
from tests.deployments.spec_map import ROLES, TARGETS, expected_outcome
from tests.factories import make_deployment

_slugs = itertools.count()

attempts = st.lists(
    st.tuples(
        st.sampled_from(TARGETS),
        st.sampled_from(ROLES),
        st.booleans(),  # send expected_state?
        st.booleans(),  # ... and if so, the right one?
    ),
    max_size=25,
)


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=attempts, start_in_trial=st.booleans())
def test_chain_stays_contiguous_under_any_sequence(actors, tenant, steps, start_in_trial):
    deployment = make_deployment(
        tenant,
        slug=f"chain-{next(_slugs)}",
        initial_state="trial" if start_in_trial else "active",
        actor=actors["operator"],
    )
    state = deployment.state
    successes = 0
    for to_state, role, send_expected, right_expected in steps:
        expected_state = None
        if send_expected:
            expected_state = (
                state if right_expected else "paused" if state != "paused" else "active"
            )
        try:
            transition_state(
                deployment_id=deployment.pk,
                to_state=to_state,
                actor=actors[role],
                expected_state=expected_state,
            )
        except StateConflict:
            assert expected_state != state
        except InvalidTransition:
            assert expected_state in (None, state)
            assert expected_outcome(state, to_state, role) == "invalid"
        except TransitionForbidden:
            assert expected_state in (None, state)
            assert expected_outcome(state, to_state, role) == "forbidden"
        else:
            assert expected_state in (None, state)
            assert expected_outcome(state, to_state, role) == "allowed"
            state = to_state
            successes += 1
    assert Deployment.objects.get(pk=deployment.pk).state == state
    events = assert_chain_contiguous(deployment)
    assert len(events) == 1 + successes


@pytest.mark.django_db
def test_chain_helper_catches_a_gap(tenant):
    # the checker itself must be able to fail: a forged event breaks the chain
    deployment = make_deployment(tenant)
    DeploymentEvent.objects.create(
        deployment=deployment, from_state="paused", to_state="active", actor="forger"
    )
    with pytest.raises(AssertionError):
        assert_chain_contiguous(deployment)


@pytest.mark.django_db
def test_chain_over_a_full_life(tenant, actors):
    deployment = make_deployment(tenant)
    path = [
        ("paused", "tenant"),
        ("active", "tenant"),
        ("past_due", "system"),
        ("suspended", "system"),
        ("active", "operator"),
        ("cancelled", "tenant"),
        ("archived", "system"),
    ]
    for to_state, role in path:
        transition_state(deployment_id=deployment.pk, to_state=to_state, actor=actors[role])
    events = assert_chain_contiguous(deployment)
    assert [e.to_state for e in events] == ["active", *[to for to, _ in path]]
    assert [e.actor for e in events[1:]] == [actors[role].label for _, role in path]
