"""`create_deployment` called directly (the admin and commands do): the same
validation as the API, the first event, and who may create in trial."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from arcadia_cloud.errors import Forbidden
from deployments.models import Deployment, DeploymentEvent
from deployments.services import create_deployment


def create(tenant, actor, **kw):
    values = {"slug": "shop", "display_name": "Shop", "region": "us-east-1", **kw}
    return create_deployment(tenant=tenant, actor=actor, **values)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"slug": "shop\n"}, "slug"),
        ({"slug": "Shop"}, "slug"),
        ({"slug": "-shop"}, "slug"),
        ({"slug": "s" * 64}, "slug"),
        ({"display_name": ""}, "display_name"),
        ({"display_name": "  "}, "display_name"),
        ({"display_name": "x" * 201}, "display_name"),
        ({"region": "mars-1"}, "region"),
        ({"llm_mode": "magic"}, "llm_mode"),
    ],
)
def test_invalid_values_are_refused_and_nothing_written(tenant, actors, changes, field):
    with pytest.raises(ValidationError) as raised:
        create(tenant, actors["tenant"], **changes)
    assert field in raised.value.message_dict
    assert not Deployment.objects.exists()
    assert not DeploymentEvent.objects.exists()


@pytest.mark.django_db
def test_duplicate_slug_in_tenant_is_refused(tenant, other_tenant, actors):
    create(tenant, actors["tenant"])
    with pytest.raises(ValidationError) as raised:
        create(tenant, actors["operator"])
    assert list(raised.value.message_dict) == ["slug"]
    create(other_tenant, actors["operator"])
    assert Deployment.objects.count() == 2


@pytest.mark.django_db
def test_first_event_has_no_from_state(tenant, actors):
    deployment = create(tenant, actors["system"])
    event = DeploymentEvent.objects.get(deployment=deployment)
    assert (event.from_state, event.to_state, event.actor) == (None, "active", "system:tests")


@pytest.mark.django_db
def test_only_an_operator_creates_in_trial(tenant, actors):
    for role in ("tenant", "system"):
        with pytest.raises(Forbidden):
            create(tenant, actors[role], initial_state="trial")
    deployment = create(tenant, actors["operator"], initial_state="trial")
    assert deployment.state == "trial"
    assert DeploymentEvent.objects.get().to_state == "trial"


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["paused", "archived", "flying"])
def test_cannot_start_anywhere_else(tenant, actors, state):
    with pytest.raises(ValidationError):
        create(tenant, actors["operator"], initial_state=state)
    assert not Deployment.objects.exists()


@pytest.mark.django_db
def test_tenant_cannot_create_in_another_tenant(other_tenant, actors):
    with pytest.raises(Forbidden):
        create(other_tenant, actors["tenant"])
    assert not Deployment.objects.exists()
