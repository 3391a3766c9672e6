"""Webhook test helpers: a real receiver on loopback (allow-listed), endpoints
made through the service, events committed into the feed."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from arcadia_cloud.actors import Actor
from feed.record import record_event
from tests.webhooks.receiver import running_receiver
from webhooks import services

OPERATOR = Actor(kind="operator", label="ops@arcadia.example")


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.ARCADIA_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1", "localhost"]


@pytest.fixture
def receiver():
    with running_receiver() as receiver:
        yield receiver


def make_endpoint(tenant, url: str, *, types=None, receiver=None, actor: Actor = OPERATOR):
    """An endpoint of `tenant` (None: platform-wide); the receiver trusts its secret."""
    registered = services.create_endpoint(
        actor=actor, url=url, types=types or [], tenant_id=tenant.pk if tenant else None
    )
    if receiver is not None:
        receiver.trust(registered.secret)
    return registered.endpoint, registered.secret


def commit_event(
    tenant,
    deployment_id: uuid.UUID | None = None,
    type_: str = "deployment.transitioned",
    **data,
):
    """One feed event, committed (as a fact's transaction would)."""
    with transaction.atomic():
        return record_event(
            type=type_,
            tenant_id=tenant.pk if tenant is not None else None,
            deployment_id=deployment_id,
            data=data,
        )
