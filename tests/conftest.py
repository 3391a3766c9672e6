"""Shared fixtures: an identity per role and an API client per identity."""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from arcadia_cloud.actors import Actor
from tests.factories import (
    SYSTEM_ACTOR,
    IdentityFactory,
    PlatformAdminFactory,
    TenantFactory,
    make_deployment,
    token_for,
)


def bearer(raw: str | None) -> APIClient:
    """An API client sending `Authorization: Bearer <raw>` (none when `raw` is None)."""
    client = APIClient()
    if raw is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _client(user) -> APIClient:
    return bearer(None if user is None else token_for(user))


@pytest.fixture
def tenant(db):
    return TenantFactory(slug="acme")


@pytest.fixture
def other_tenant(db):
    return TenantFactory(slug="globex")


@pytest.fixture
def tenant_identity(tenant):
    return IdentityFactory(email="owner@acme.example", tenant=tenant)


@pytest.fixture
def other_identity(other_tenant):
    return IdentityFactory(email="owner@globex.example", tenant=other_tenant)


@pytest.fixture
def platform_admin(db):
    return PlatformAdminFactory(email="admin@arcadia.example")


@pytest.fixture
def tenant_client(tenant_identity) -> APIClient:
    return _client(tenant_identity)


@pytest.fixture
def other_client(other_identity) -> APIClient:
    return _client(other_identity)


@pytest.fixture
def admin_client_api(platform_admin) -> APIClient:
    return _client(platform_admin)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def deployment(tenant):
    """An active deployment of `tenant` ("acme"), made through the service."""
    return make_deployment(tenant, slug="shop")


@pytest.fixture
def foreign_deployment(other_tenant):
    """An active deployment of `other_tenant` ("globex")."""
    return make_deployment(other_tenant, slug="portal")


@pytest.fixture
def seeded(db):
    """The demo catalog, loaded through its command."""
    call_command("seed_catalog", verbosity=0)


@pytest.fixture
def system_actor() -> Actor:
    return SYSTEM_ACTOR


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


# Concurrency, row-lock and trigger tests need PostgreSQL; on the SQLite quick
# start they are skipped with this visible reason, never silently passed.
# The backend's vendor, not its ENGINE string: PostGIS and other PostgreSQL
# backends run these tests too. Under CI the suite refuses to start on anything
# but PostgreSQL (see pytest_configure), so they can never be skipped there.
requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (row locks, SKIP LOCKED, triggers): set DATABASE_URL",
)


def pytest_configure(config):
    if os.environ.get("CI") and connection.vendor != "postgresql":
        raise pytest.UsageError(
            "CI runs the suite on PostgreSQL: DATABASE_URL must point at one "
            f"(got the {connection.vendor} backend)."
        )


# ---- reliability: rate limits ----------------------------------------------
# Rate limits are per token and real in every environment. Tests fire bursts of
# requests with one token and pin query counts, so they run unthrottled unless
# they set a rate themselves (tests/reliability/test_throttling.py does).
@pytest.fixture(autouse=True)
def _unthrottled(settings):
    settings.ARCADIA_THROTTLE_READ = "off"
    settings.ARCADIA_THROTTLE_WRITE = "off"


@pytest.fixture
def superuser(db):
    from arcadia_cloud.models import User

    return User.objects.create_superuser("root@arcadia.example")


def logged_in(user) -> Client:
    """A web (admin) client with `user` logged in."""
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(superuser) -> Client:
    return logged_in(superuser)
