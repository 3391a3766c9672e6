"""Fixtures for HTTP-level deployment tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def clients(tenant_client, admin_client_api) -> dict:
    """API client per column of the map an API caller can stand in."""
    return {"tenant": tenant_client, "operator": admin_client_api}


@pytest.fixture
def emails(tenant_identity, platform_admin) -> dict:
    return {"tenant": tenant_identity.email, "operator": platform_admin.email}


@pytest.fixture
def actors_api(tenant_identity):
    """The tenant identity as an Actor, for preparing history through the service."""
    from arcadia_cloud.actors import Actor

    return Actor.for_identity(tenant_identity)
