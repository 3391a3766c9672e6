"""Fixtures for the operator console: staff users per group, logged-in clients,
a small catalog and subscribed deployments."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from arcadia_cloud.models import User
from catalog import services as catalog
from deployments.operators import BILLING_OPERATOR, SUPPORT
from deployments.services import create_subscription
from tests.conftest import logged_in
from tests.factories import SYSTEM_ACTOR, IdentityFactory, TenantFactory, make_deployment

SYSTEM = SYSTEM_ACTOR


@pytest.fixture
def staff_tenant(db):
    return TenantFactory(slug="arcadia-staff")


def _staff(email: str, tenant, group: str | None) -> User:
    user = IdentityFactory(email=email, tenant=tenant, is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def billing_operator(staff_tenant) -> User:
    return _staff("billing@arcadia.example", staff_tenant, BILLING_OPERATOR)


@pytest.fixture
def support_user(staff_tenant) -> User:
    return _staff("support@arcadia.example", staff_tenant, SUPPORT)


@pytest.fixture
def groupless_staff(staff_tenant) -> User:
    return _staff("intern@arcadia.example", staff_tenant, None)


@pytest.fixture
def billing_client(billing_operator) -> Client:
    return logged_in(billing_operator)


@pytest.fixture
def support_client(support_user) -> Client:
    return logged_in(support_user)


@pytest.fixture
def catalog_items(db):
    """Plans studio (49.00 USD), team (199.00 USD), euro (39.00 EUR) and add-ons."""
    plans = {}
    for code, price, currency in (
        ("studio", 4900, "USD"),
        ("team", 19900, "USD"),
        ("euro", 3900, "EUR"),
    ):
        plan = catalog.create_plan(code=code, name=code.title())
        version = catalog.create_plan_version(plan=plan, price_cents=price, currency=currency)
        plans[code] = catalog.publish_plan_version(plan_version=version)
    for code, kind, qty, price, currency in (
        ("storage_50gb", "storage_gb", 50, 750, "USD"),
        ("seats_5", "seats", 5, 2500, "USD"),
        ("storage_eu", "storage_gb", 50, 600, "EUR"),
    ):
        catalog.create_addon(
            code=code, name=code, resource_kind=kind, qty=qty, price_cents=price, currency=currency
        )
    return plans


def subscribe(deployment, plan_code: str, *addons: str):
    return create_subscription(
        deployment_id=deployment.pk,
        plan_code=plan_code,
        addon_codes=list(addons),
        actor=SYSTEM,
    )


@pytest.fixture
def tenant_a(db):
    return TenantFactory(slug="acme", name="Acme Corp")


@pytest.fixture
def tenant_b(db):
    return TenantFactory(slug="globex", name="Globex")


@pytest.fixture
def shop(tenant_a):
    return make_deployment(tenant_a, slug="shop", display_name="Acme Shop", region="us-east-1")
