"""The resource services: create, change, delete within the deployment's limits
and lifecycle state, each with its feed event in the same transaction."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from arcadia_cloud.errors import Forbidden
from deployments.errors import (
    DeploymentNotFound,
    DeploymentNotRunning,
    QuotaExceeded,
    ResourceDeleted,
    ResourceNameTaken,
    ResourceNotFound,
    UnknownResourceKind,
)
from deployments.models import CloudResource
from deployments.resource_events import shape_of
from deployments.resources import create_resource, delete_resource, update_resource
from tests.factories import SYSTEM_ACTOR, put_in_state
from tests.resources.conftest import make_resource, resource_events, row

pytestmark = pytest.mark.django_db


def test_create_writes_the_resource_pending_and_its_created_event(subscribed, tenant_actor):
    resource = make_resource(subscribed, qty=40, actor=tenant_actor)
    stored = row(resource)
    assert stored["tenant_id"] == subscribed.tenant_id
    assert (stored["kind"], stored["name"], stored["qty"]) == ("storage_gb", "uploads", 40)
    assert (stored["desired_state"], stored["observed_state"]) == ("running", "pending")
    assert (stored["generation"], stored["observed_generation"], stored["held"]) == (1, 0, False)
    [event] = resource_events()
    assert (event.type, event.tenant_id, event.deployment_id) == (
        "resource.created",
        subscribed.tenant_id,
        subscribed.pk,
    )
    assert event.data == shape_of(CloudResource.objects.get(pk=resource.pk))
    assert event.data["pending"] is True


def test_create_may_start_stopped(subscribed, tenant_actor):
    resource = make_resource(subscribed, desired_state="stopped", actor=tenant_actor)
    assert row(resource)["desired_state"] == "stopped"


def test_create_up_to_the_limit_and_not_one_more(subscribed, tenant_actor):
    make_resource(subscribed, name="a", qty=100, actor=tenant_actor)
    make_resource(subscribed, name="b", qty=50, actor=tenant_actor)
    with pytest.raises(QuotaExceeded) as refused:
        make_resource(subscribed, name="c", qty=1, actor=tenant_actor)
    assert refused.value.body() == {
        "error": "quota_exceeded",
        "resource_kind": "storage_gb",
        "limit": 150,
        "used": 150,
        "requested": 1,
    }
    assert CloudResource.objects.count() == 2
    assert len(resource_events()) == 2


def test_a_kind_the_deployment_is_not_entitled_to_has_limit_zero(subscribed, tenant_actor):
    # backup_days exists (an add-on of the catalog) but studio includes none
    with pytest.raises(QuotaExceeded) as refused:
        make_resource(subscribed, kind="backup_days", qty=1, actor=tenant_actor)
    assert (refused.value.limit, refused.value.used) == (0, 0)


def test_a_kind_nobody_defines_is_unknown(subscribed, tenant_actor):
    with pytest.raises(UnknownResourceKind):
        make_resource(subscribed, kind="quantum_qubits", qty=1, actor=tenant_actor)
    assert not CloudResource.objects.exists()


def test_without_subscription_a_known_kind_is_over_quota(catalog, deployment, tenant_actor):
    with pytest.raises(QuotaExceeded) as refused:
        make_resource(deployment, qty=1, actor=tenant_actor)
    assert refused.value.limit == 0


@pytest.mark.parametrize("state", ["past_due", "paused", "suspended", "cancelled", "archived"])
def test_only_active_and_trial_deployments_create(subscribed, tenant_actor, state):
    put_in_state(subscribed, state)
    with pytest.raises(DeploymentNotRunning) as refused:
        make_resource(subscribed, actor=SYSTEM_ACTOR)
    assert refused.value.body() == {"error": "deployment_not_running", "state": state}


def test_a_trial_deployment_creates(subscribed, tenant_actor):
    put_in_state(subscribed, "trial")
    make_resource(subscribed, actor=tenant_actor)
    assert CloudResource.objects.count() == 1


def test_a_name_is_unique_among_resources_not_deleted(subscribed, tenant_actor):
    first = make_resource(subscribed, name="web", actor=tenant_actor)
    with pytest.raises(ResourceNameTaken):
        make_resource(subscribed, name="web", kind="seats", qty=1, actor=tenant_actor)
    delete_resource(resource_id=first.pk, actor=tenant_actor)
    again = make_resource(subscribed, name="web", actor=tenant_actor)
    assert CloudResource.objects.filter(name="web").count() == 2
    assert row(again)["desired_state"] == "running"


def test_names_are_per_deployment(subscribed, foreign_subscribed):
    make_resource(subscribed, name="web")
    make_resource(foreign_subscribed, name="web")
    assert CloudResource.objects.filter(name="web").count() == 2


def test_bad_values_are_field_errors(subscribed, tenant_actor):
    for bad in ({"name": "Web"}, {"name": "web\n"}, {"qty": 0}, {"kind": "Storage"}):
        with pytest.raises(ValidationError):
            make_resource(subscribed, actor=tenant_actor, **bad)
    with pytest.raises(ValidationError):
        make_resource(subscribed, desired_state="deleted", actor=tenant_actor)
    assert not CloudResource.objects.exists()


def test_another_tenants_deployment_is_not_found(foreign_subscribed, tenant_actor):
    with pytest.raises(DeploymentNotFound):
        make_resource(foreign_subscribed, actor=tenant_actor)


def test_a_controller_may_not_create_change_or_delete(subscribed, controller_actor):
    resource = make_resource(subscribed)
    with pytest.raises(Forbidden):
        make_resource(subscribed, name="other", actor=controller_actor)
    with pytest.raises(Forbidden):
        update_resource(resource_id=resource.pk, qty=2, actor=controller_actor)
    with pytest.raises(Forbidden):
        delete_resource(resource_id=resource.pk, actor=controller_actor)
    assert row(resource)["generation"] == 1


# ---- changes --------------------------------------------------------------------


def test_growing_is_checked_against_the_limit_with_the_increase(subscribed, tenant_actor):
    resource = make_resource(subscribed, qty=100, actor=tenant_actor)
    update_resource(resource_id=resource.pk, qty=150, actor=tenant_actor)
    with pytest.raises(QuotaExceeded) as refused:
        update_resource(resource_id=resource.pk, qty=151, actor=tenant_actor)
    assert (refused.value.used, refused.value.requested, refused.value.limit) == (150, 1, 150)
    assert (row(resource)["qty"], row(resource)["generation"]) == (150, 2)


def test_each_change_bumps_the_generation_once_and_records_updated(subscribed, tenant_actor):
    resource = make_resource(subscribed, qty=10, actor=tenant_actor)
    update_resource(resource_id=resource.pk, qty=20, desired_state="stopped", actor=tenant_actor)
    assert (row(resource)["qty"], row(resource)["desired_state"]) == (20, "stopped")
    assert row(resource)["generation"] == 2
    assert [e.type for e in resource_events()] == ["resource.created", "resource.updated"]
    assert resource_events()[-1].data["generation"] == 2


def test_asking_for_what_it_is_changes_nothing(subscribed, tenant_actor):
    resource = make_resource(subscribed, qty=10, actor=tenant_actor)
    before = row(resource)
    update_resource(resource_id=resource.pk, qty=10, desired_state="running", actor=tenant_actor)
    update_resource(resource_id=resource.pk, actor=tenant_actor)
    assert row(resource) == before
    assert len(resource_events()) == 1


def test_shrinking_and_stopping_are_allowed_in_any_state_growing_and_starting_are_not(
    subscribed, tenant_actor
):
    resource = make_resource(subscribed, qty=10, actor=tenant_actor)
    put_in_state(subscribed, "past_due")
    update_resource(resource_id=resource.pk, qty=5, desired_state="stopped", actor=tenant_actor)
    with pytest.raises(DeploymentNotRunning):
        update_resource(resource_id=resource.pk, qty=6, actor=tenant_actor)
    with pytest.raises(DeploymentNotRunning):
        update_resource(resource_id=resource.pk, desired_state="running", actor=tenant_actor)
    assert (row(resource)["qty"], row(resource)["desired_state"]) == (5, "stopped")


def test_a_deleted_resource_takes_no_change_and_deleting_again_is_a_no_op(subscribed, tenant_actor):
    resource = make_resource(subscribed, actor=tenant_actor)
    delete_resource(resource_id=resource.pk, actor=tenant_actor)
    stored = row(resource)
    assert (stored["desired_state"], stored["generation"]) == ("deleted", 2)
    with pytest.raises(ResourceDeleted):
        update_resource(resource_id=resource.pk, qty=1, actor=tenant_actor)
    delete_resource(resource_id=resource.pk, actor=tenant_actor)
    assert row(resource) == stored
    assert [e.type for e in resource_events()] == ["resource.created", "resource.deleted"]


def test_deleting_is_allowed_whatever_the_deployment_state(subscribed, tenant_actor):
    resource = make_resource(subscribed, actor=tenant_actor)
    put_in_state(subscribed, "suspended")
    delete_resource(resource_id=resource.pk, actor=tenant_actor)
    assert row(resource)["desired_state"] == "deleted"


def test_another_tenants_resource_is_not_found(foreign_subscribed, tenant_actor):
    resource = make_resource(foreign_subscribed)
    with pytest.raises(ResourceNotFound):
        update_resource(resource_id=resource.pk, qty=2, actor=tenant_actor)
    with pytest.raises(ResourceNotFound):
        delete_resource(resource_id=resource.pk, actor=tenant_actor)
    assert row(resource)["generation"] == 1


def test_services_run_in_their_own_transaction(subscribed, tenant_actor):
    # create_resource is usable outside any caller's transaction (a command,
    # the demo): it opens its own and records the event inside it.
    resource = create_resource(
        deployment_id=subscribed.pk, kind="seats", name="team", qty=5, actor=tenant_actor
    )
    assert row(resource)["qty"] == 5
