"""Every admin changelist costs the same number of queries for a few rows and for
many: no N+1 on any operator page. The list of pages is read from the admin
registry, so a newly registered model is measured without anyone adding it here."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arcadia_cloud.actors import Actor
from arcadia_cloud.services import issue_token
from catalog import services as catalog
from deployments.models import CloudResource
from deployments.services import set_billing_override
from deployments.transitions import transition_state
from subscriptions.services import attach_addon, change_plan_version
from tests.admin.conftest import subscribe
from tests.conftest import logged_in
from tests.factories import SYSTEM_ACTOR, IdentityFactory, TenantFactory, make_deployment

OPERATOR = SYSTEM_ACTOR
ADMIN_ACTOR = Actor(kind="operator", label="ops@arcadia.example")


def _seat_addon(code: str) -> None:
    catalog.create_addon(
        code=code, name=code, resource_kind="seats", qty=1, price_cents=100, currency="USD"
    )


def _resource(deployment, name: str) -> None:
    # Written directly: what is measured is the pages listing them (the
    # services' rules are tested in tests/resources/).
    CloudResource.objects.create(
        deployment=deployment, tenant_id=deployment.tenant_id, kind="storage_gb", name=name, qty=1
    )


def grow(rows: int, start: int) -> None:
    """`rows` more of everything an operator page lists: tenants, identities,
    tokens, deployments with events, override changes, subscriptions with add-ons,
    plan changes, resources, plans, versions and add-ons."""
    for i in range(start, start + rows):
        tenant = TenantFactory(slug=f"grow-{i}")
        identity = IdentityFactory(email=f"grow{i}@example.com", tenant=tenant)
        issue_token(user=identity, name=f"t{i}")
        deployment = make_deployment(tenant, slug=f"app-{i}")
        transition_state(deployment_id=deployment.pk, to_state="paused", actor=ADMIN_ACTOR)
        set_billing_override(
            deployment_id=deployment.pk, suspended=True, actor=ADMIN_ACTOR, reason="hold"
        )
        subscription = subscribe(deployment, "studio", "storage_50gb")
        change_plan_version(subscription=subscription, plan_code="team", actor=OPERATOR)
        _resource(deployment, f"disk-{i}")
        plan = catalog.create_plan(code=f"plan_{i}", name=f"Plan {i}")
        version = catalog.create_plan_version(plan=plan, price_cents=100 + i, currency="USD")
        catalog.publish_plan_version(plan_version=version)
        _seat_addon(f"addon_{i}")


def changelist_urls() -> list[str]:
    return sorted(
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in admin.site._registry
        if model._meta.app_label not in {"auth"}
    )


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_every_changelist_is_constant_in_rows(superuser, catalog_items):
    client = logged_in(superuser)
    urls = changelist_urls()
    # the pages this covers (a new admin joins the list by itself)
    assert len(urls) >= 10
    grow(3, start=0)
    small = {url: queries(client, url) for url in urls}
    grow(12, start=3)
    large = {url: queries(client, url) for url in urls}
    assert large == small


def _grow_inlines(deployment, subscription, plan, rows: int, start: int) -> None:
    """`rows` more of every inline line the change pages show: events,
    override changes and resources (deployment page), add-on lines and plan changes
    (subscription page), versions (plan page)."""
    for i in range(start, start + rows):
        transition_state(
            deployment_id=deployment.pk,
            to_state="active" if i % 2 else "paused",
            actor=ADMIN_ACTOR,
        )
        set_billing_override(
            deployment_id=deployment.pk, suspended=not i % 2, actor=ADMIN_ACTOR, reason="hold"
        )
        _seat_addon(f"line_{i}")
        attach_addon(subscription=subscription, addon_code=f"line_{i}", actor=OPERATOR)
        change_plan_version(
            subscription=subscription, plan_code="team" if i % 2 == 0 else "studio", actor=OPERATOR
        )
        version = catalog.create_plan_version(plan=plan, price_cents=100 + i, currency="USD")
        catalog.publish_plan_version(plan_version=version)
        _resource(deployment, f"line-{i}")


@pytest.mark.django_db
def test_change_pages_are_constant_in_their_inline_rows(superuser, catalog_items):
    client = logged_in(superuser)
    deployment = make_deployment(TenantFactory(slug="inline"), slug="inline-app")
    subscription = subscribe(deployment, "studio", "storage_50gb")
    plan = catalog.create_plan(code="inline_plan", name="Inline plan")
    urls = [
        reverse("admin:deployments_deployment_change", args=[deployment.pk]),
        reverse("admin:subscriptions_subscription_change", args=[subscription.pk]),
        reverse("admin:catalog_plan_change", args=[plan.pk]),
    ]
    _grow_inlines(deployment, subscription, plan, 2, start=0)
    for url in urls:  # warm the per-process caches (content types) first
        queries(client, url)
    small = {url: queries(client, url) for url in urls}
    _grow_inlines(deployment, subscription, plan, 10, start=2)
    large = {url: queries(client, url) for url in urls}
    assert large == small
