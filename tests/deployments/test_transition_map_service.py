"""Every (from, to, role) cell of the lifecycle map through `transition_state`,
checked against the SPEC table in `spec_map` (not against the code's own map)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from arcadia_cloud.actors import Actor
from deployments.errors import (
    DeploymentNotFound,
    InvalidTransition,
    StateConflict,
    TransitionForbidden,
)
from deployments.models import Deployment, DeploymentEvent
from deployments.transitions import allowed_targets, transition_state
from tests.deployments.helpers import snapshot
from tests.deployments.spec_map import (
    ALL_CELLS,
    ALLOWED,
    FORBIDDEN,
    ROLES,
    SPEC_MAP,
    STATES,
    expected_outcome,
    moves_for,
)
from tests.factories import LONG_AGO, IdentityFactory, make_deployment, put_in_state


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("from_state", "to_state"), ALL_CELLS)
def test_every_cell_of_the_map(from_state, to_state, role, actors, deployment):
    # given a deployment in from_state since a month ago
    put_in_state(deployment, from_state)
    before = snapshot(deployment)
    actor = actors[role]
    expected = expected_outcome(from_state, to_state, role)

    if expected == ALLOWED:
        started = timezone.now()
        moved = transition_state(
            deployment_id=deployment.pk,
            to_state=to_state,
            actor=actor,
            reason="because",
            notes="a note",
        )
        row = Deployment.objects.get(pk=deployment.pk)
        assert moved.state == row.state == to_state
        assert row.state_since >= started
        new = DeploymentEvent.objects.filter(deployment=deployment).exclude(
            pk__in=[e["id"] for e in before["events"]]
        )
        assert len(new) == 1
        event = new[0]
        assert (event.from_state, event.to_state) == (from_state, to_state)
        assert event.actor == actor.label
        assert (event.reason, event.notes) == ("because", "a note")
        assert event.request_id == actor.request_id
        assert event.occurred_at == row.state_since
        return

    error = InvalidTransition if expected != FORBIDDEN else TransitionForbidden
    with pytest.raises(error) as raised:
        transition_state(deployment_id=deployment.pk, to_state=to_state, actor=actor)
    assert (raised.value.from_state, raised.value.to_state) == (from_state, to_state)
    assert snapshot(deployment) == before


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("state", STATES)
def test_allowed_targets_are_the_spec_moves_for_the_role(state, role, actors, deployment):
    put_in_state(deployment, state)
    assert set(allowed_targets(deployment, actors[role])) == moves_for(state, role)


@pytest.mark.django_db
def test_tenant_column_means_the_deployments_own_tenant(deployment, other_tenant):
    # an identity of another tenant is not "tenant" for this deployment: it
    # does not even exist for it (its scope), so a refusal tells it nothing
    stranger = Actor.for_identity(IdentityFactory(tenant=other_tenant))
    tenant_moves = [(f, t) for (f, t), who in SPEC_MAP.items() if "tenant" in who]
    assert tenant_moves
    for from_state, to_state in tenant_moves:
        put_in_state(deployment, from_state)
        before = snapshot(deployment)
        assert allowed_targets(deployment, stranger) == []
        with pytest.raises(DeploymentNotFound):
            transition_state(deployment_id=deployment.pk, to_state=to_state, actor=stranger)
        assert snapshot(deployment) == before


@pytest.mark.django_db
def test_expected_state_mismatch_is_a_conflict_and_writes_nothing(deployment, actors):
    before = snapshot(deployment)
    with pytest.raises(StateConflict) as raised:
        transition_state(
            deployment_id=deployment.pk,
            to_state="paused",
            actor=actors["tenant"],
            expected_state="paused",
        )
    assert raised.value.body() == {
        "error": "state_conflict",
        "expected": "paused",
        "actual": "active",
    }
    assert snapshot(deployment) == before


@pytest.mark.django_db
def test_expected_state_match_moves(deployment, actors):
    moved = transition_state(
        deployment_id=deployment.pk,
        to_state="paused",
        actor=actors["tenant"],
        expected_state="active",
    )
    assert moved.state == "paused"


@pytest.mark.django_db
def test_refused_moves_leave_other_deployments_alone(tenant, actors):
    # given two deployments; a refused move on one touches neither
    first = make_deployment(tenant)
    second = make_deployment(tenant)
    put_in_state(first, "archived")
    before = snapshot(second)
    with pytest.raises(InvalidTransition):
        transition_state(deployment_id=first.pk, to_state="active", actor=actors["operator"])
    assert snapshot(second) == before
    assert Deployment.objects.get(pk=first.pk).state_since < timezone.now() - LONG_AGO / 2


@pytest.mark.django_db
def test_overlong_reason_is_refused_before_anything_is_written(deployment, actors):
    # The admin and the batch command call the service without the API's
    # serializer; the column holds 500 characters (PostgreSQL would raise).
    from django.core.exceptions import ValidationError

    before = snapshot(deployment)
    with pytest.raises(ValidationError) as raised:
        transition_state(
            deployment_id=deployment.pk,
            to_state="paused",
            actor=actors["operator"],
            reason="r" * 501,
        )
    assert "reason" in raised.value.message_dict
    assert snapshot(deployment) == before
    moved = transition_state(
        deployment_id=deployment.pk, to_state="paused", actor=actors["operator"], reason="r" * 500
    )
    assert moved.state == "paused"
