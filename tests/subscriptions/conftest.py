"""Fixtures for subscription tests: the demo catalog and a deployment per tenant."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from arcadia_cloud.actors import Actor
from tests.factories import make_deployment


@pytest.fixture
def seeded(db):
    call_command("seed_catalog", verbosity=0)


@pytest.fixture
def deployment(tenant):
    return make_deployment(tenant, slug="shop")


@pytest.fixture
def foreign_deployment(other_tenant):
    return make_deployment(other_tenant, slug="portal")


@pytest.fixture
def system_actor() -> Actor:
    return Actor.system("system:tests")


def subscribe_url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/subscribe"


def addons_url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/subscription/addons"


def change_plan_url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/subscription/change-plan"
