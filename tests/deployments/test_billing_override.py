"""`set_billing_override`: operators only, a reason required, one audit row per
change (actor, reason, request_id, occurred_at), no row when nothing changes."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from arcadia_cloud.actors import Actor
from arcadia_cloud.errors import Forbidden
from deployments.errors import DeploymentNotFound
from deployments.models import BillingOverrideChange, Deployment
from deployments.services import set_billing_override
from tests.deployments.helpers import snapshot


@pytest.mark.django_db
def test_operator_turns_it_on_with_an_audit_row(deployment, actors):
    started = timezone.now()
    result = set_billing_override(
        deployment_id=deployment.pk,
        suspended=True,
        actor=actors["operator"],
        reason="disputed invoice",
    )
    assert result.billing_action_suspended is True
    assert Deployment.objects.get(pk=deployment.pk).billing_action_suspended is True
    change = BillingOverrideChange.objects.get()
    assert change.deployment_id == deployment.pk
    assert change.value is True
    assert change.actor == actors["operator"].label
    assert change.reason == "disputed invoice"
    assert change.request_id == "req-operator"
    assert started <= change.occurred_at <= timezone.now()


@pytest.mark.django_db
def test_on_then_off_is_two_rows_in_order(deployment, actors):
    for value, reason in ((True, "hold"), (False, "resolved")):
        set_billing_override(
            deployment_id=deployment.pk, suspended=value, actor=actors["operator"], reason=reason
        )
    assert list(BillingOverrideChange.objects.values_list("value", "reason")) == [
        (True, "hold"),
        (False, "resolved"),
    ]
    assert Deployment.objects.get(pk=deployment.pk).billing_action_suspended is False


@pytest.mark.django_db
def test_setting_the_current_value_is_a_no_op(deployment, actors):
    before = snapshot(deployment)
    set_billing_override(
        deployment_id=deployment.pk, suspended=False, actor=actors["operator"], reason="again"
    )
    assert not BillingOverrideChange.objects.exists()
    assert snapshot(deployment) == before


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["tenant", "system"])
def test_only_operators_may_change_it(deployment, actors, role):
    before = snapshot(deployment)
    with pytest.raises(Forbidden):
        set_billing_override(
            deployment_id=deployment.pk, suspended=True, actor=actors[role], reason="please"
        )
    assert not BillingOverrideChange.objects.exists()
    assert snapshot(deployment) == before


@pytest.mark.django_db
@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_reason_is_required(deployment, actors, reason):
    with pytest.raises(ValidationError) as raised:
        set_billing_override(
            deployment_id=deployment.pk, suspended=True, actor=actors["operator"], reason=reason
        )
    assert "reason" in raised.value.message_dict
    assert not BillingOverrideChange.objects.exists()
    assert Deployment.objects.get(pk=deployment.pk).billing_action_suspended is False


@pytest.mark.django_db
def test_unknown_deployment(actors):
    with pytest.raises(DeploymentNotFound):
        set_billing_override(
            deployment_id=uuid.uuid4(), suspended=True, actor=actors["operator"], reason="x"
        )
    assert not BillingOverrideChange.objects.exists()


@pytest.mark.django_db
def test_staff_operator_actor_is_an_operator(deployment, platform_admin):
    actor = Actor.for_staff(platform_admin, request_id="admin-req")
    set_billing_override(deployment_id=deployment.pk, suspended=True, actor=actor, reason="r")
    assert BillingOverrideChange.objects.get().request_id == "admin-req"


@pytest.mark.django_db
def test_override_does_not_touch_the_lifecycle(deployment, actors):
    set_billing_override(
        deployment_id=deployment.pk, suspended=True, actor=actors["operator"], reason="hold"
    )
    row = Deployment.objects.get(pk=deployment.pk)
    assert row.state == "active"
    assert row.events.count() == 1


@pytest.mark.django_db
def test_overlong_reason_is_refused(deployment, actors):
    with pytest.raises(ValidationError) as raised:
        set_billing_override(
            deployment_id=deployment.pk, suspended=True, actor=actors["operator"], reason="r" * 501
        )
    assert "reason" in raised.value.message_dict
    assert not BillingOverrideChange.objects.exists()
    assert Deployment.objects.get(pk=deployment.pk).billing_action_suspended is False
