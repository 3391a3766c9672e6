"""The two paths that change a state share one check and one write: the override
is part of the map's "who may" wherever a move comes from, and every
@transition method writes exactly Deployment.MOVE_COLUMNS."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from arcadia_cloud.actors import Actor
from deployments.errors import DeploymentNotFound, TransitionForbidden
from deployments.models import Deployment
from deployments.services import set_billing_override
from deployments.transitions import (
    TRANSITIONS,
    Refusal,
    allowed_targets,
    decide,
    move_values,
    transition_state,
)
from tests.batch.conftest import run
from tests.deployments.helpers import snapshot
from tests.factories import SYSTEM_ACTOR, make_deployment, put_in_state

pytestmark = pytest.mark.django_db

AT = datetime(2026, 5, 17, 12, 30, tzinfo=UTC)


def _columns(deployment: Deployment) -> dict:
    return {f.attname: getattr(deployment, f.attname) for f in Deployment._meta.concrete_fields}


@pytest.mark.parametrize("key", sorted(TRANSITIONS), ids="->".join)
def test_each_transition_method_touches_only_the_move_columns(key, tenant):
    rule = TRANSITIONS[key]
    deployment = Deployment(
        tenant=tenant, slug="x", display_name="X", region="us-east-1", state=rule.from_state
    )
    before = _columns(deployment)
    getattr(deployment, rule.method)(AT)
    after = _columns(deployment)
    changed = {name for name in before if before[name] != after[name]}
    assert changed <= set(Deployment.MOVE_COLUMNS)
    assert (after["state"], after["state_since"]) == (rule.to_state, AT)


def test_move_values_are_exactly_the_move_columns():
    assert tuple(move_values("paused", AT)) == Deployment.MOVE_COLUMNS


@pytest.fixture
def overridden(tenant, platform_admin):
    deployment = make_deployment(tenant, slug="vip")
    put_in_state(deployment, "past_due")
    set_billing_override(
        deployment_id=deployment.pk,
        suspended=True,
        actor=Actor.for_identity(platform_admin),
        reason="contract settles quarterly",
    )
    deployment.refresh_from_db()
    return deployment


def test_the_map_refuses_a_system_move_of_an_overridden_deployment(overridden):
    assert decide("past_due", "suspended", SYSTEM_ACTOR, overridden) is Refusal.OVERRIDDEN
    assert "suspended" not in allowed_targets(overridden, SYSTEM_ACTOR)
    before = snapshot(overridden)
    with pytest.raises(TransitionForbidden) as raised:
        transition_state(deployment_id=overridden.pk, to_state="suspended", actor=SYSTEM_ACTOR)
    assert raised.value.reason == "overridden"
    assert snapshot(overridden) == before


def test_a_system_actor_built_with_include_overridden_may(overridden):
    forced = Actor.system("system:tests", include_overridden=True)
    assert (
        decide("past_due", "suspended", forced, overridden)
        is TRANSITIONS[("past_due", "suspended")]
    )
    moved = transition_state(deployment_id=overridden.pk, to_state="suspended", actor=forced)
    assert moved.state == "suspended"


def test_operators_are_not_held_by_the_override(overridden, admin_client_api):
    response = admin_client_api.post(
        f"/api/v1/deployments/{overridden.pk}/transition",
        {"to_state": "suspended", "reason": "by hand"},
        format="json",
    )
    assert response.status_code == 200
    assert Deployment.objects.get(pk=overridden.pk).state == "suspended"


def test_the_batch_skips_overridden_rows_through_the_same_permission(overridden, monkeypatch):
    # The batch asks the rule itself (its row conditions, turned into SQL on
    # PostgreSQL; its refusal of each row elsewhere): a rule whose permission
    # lets everything through moves the overridden row too, which proves the
    # skip is decided by the map's permission, not by the batch.
    summary = run("--from=past_due", "--to=suspended", "--reason=dunning")
    assert (summary["moved"], summary["overridden (billing actions suspended)"]) == ("0", "1")
    rule = TRANSITIONS[("past_due", "suspended")]
    monkeypatch.setattr(type(rule), "allows", lambda self, row, actor: True)
    monkeypatch.setattr(type(rule), "row_conditions", lambda self, actor: {})
    summary = run("--from=past_due", "--to=suspended", "--reason=dunning")
    assert summary["moved"] == "1"


def test_a_tenant_never_learns_another_tenants_state_from_a_refusal(deployment, other_identity):
    stranger = Actor.for_identity(other_identity)
    put_in_state(deployment, "archived")  # any move from here is invalid...
    with pytest.raises(DeploymentNotFound):  # ...but a stranger only hears "not found"
        transition_state(deployment_id=deployment.pk, to_state="active", actor=stranger)
