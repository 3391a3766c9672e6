"""Fixtures for resources and entitlements: the demo catalog, a subscribed
deployment (studio: 100 storage_gb included, + storage_50gb = 150), a
controller identity, and helpers to read resources and their feed events."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from arcadia_cloud.actors import Actor
from arcadia_cloud.services import create_identity
from deployments.models import CloudResource
from deployments.resources import create_resource
from deployments.services import create_subscription
from feed.models import Event
from tests.conftest import bearer
from tests.factories import SYSTEM_ACTOR, token_for


@pytest.fixture
def catalog(db):
    call_command("seed_catalog", verbosity=0)


@pytest.fixture
def subscribed(catalog, deployment):
    """`deployment` (acme's "shop", active) on studio with storage_50gb:
    storage_gb limit 150, seats 5, gpu_hours 10, llm_tokens_k 5000."""
    create_subscription(
        deployment_id=deployment.pk,
        plan_code="studio",
        addon_codes=["storage_50gb"],
        actor=SYSTEM_ACTOR,
    )
    return deployment


@pytest.fixture
def foreign_subscribed(catalog, foreign_deployment):
    create_subscription(deployment_id=foreign_deployment.pk, plan_code="studio", actor=SYSTEM_ACTOR)
    return foreign_deployment


@pytest.fixture
def controller(db):
    return create_identity(email="controller@arcadia.example", controller=True)


@pytest.fixture
def controller_actor(controller) -> Actor:
    return Actor.for_identity(controller)


@pytest.fixture
def controller_client(controller):
    return bearer(token_for(controller))


@pytest.fixture
def tenant_actor(tenant_identity) -> Actor:
    return Actor.for_identity(tenant_identity)


def make_resource(deployment, *, kind="storage_gb", name="uploads", qty=10, **kw) -> CloudResource:
    return create_resource(
        deployment_id=deployment.pk,
        kind=kind,
        name=name,
        qty=qty,
        actor=kw.pop("actor", SYSTEM_ACTOR),
        **kw,
    )


def resource_events(**filters) -> list[Event]:
    return list(Event.objects.filter(type__startswith="resource.", **filters).order_by("id"))


def post_json(client, path: str, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def patch_json(client, path: str, body):
    return client.patch(path, data=json.dumps(body), content_type="application/json")


def row(resource) -> dict:
    """The resource's row as stored now."""
    return CloudResource.objects.filter(pk=resource.pk).values().get()
