"""Fixtures for deployment service tests: an actor per role and a deployment."""

from __future__ import annotations

import pytest

from arcadia_cloud.actors import Actor
from tests.factories import SYSTEM_ACTOR


@pytest.fixture
def actors(tenant_identity, platform_admin) -> dict[str, Actor]:
    return {
        "tenant": Actor.for_identity(tenant_identity, request_id="req-tenant"),
        "operator": Actor.for_identity(platform_admin, request_id="req-operator"),
        "system": SYSTEM_ACTOR,
    }
