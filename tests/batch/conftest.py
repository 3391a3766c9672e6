"""Fixtures for the batch command: many deployments made cheaply, and a runner."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from deployments.models import Deployment, DeploymentEvent
from tests.factories import TenantFactory


def make_deployments(
    tenant, n: int, *, state: str = "past_due", region: str = "us-east-1", age_days: int = 30, **kw
) -> list[Deployment]:
    """`n` deployments in `state` since `age_days` ago, inserted in bulk (the
    creation events are not the subject here)."""
    since = timezone.now() - timedelta(days=age_days)
    start = make_deployments.counter
    make_deployments.counter += n
    return Deployment.objects.bulk_create(
        [
            Deployment(
                tenant=tenant,
                slug=f"batch-{start + i}",
                display_name="Batch app",
                region=region,
                state=state,
                state_since=since,
                **kw,
            )
            for i in range(n)
        ]
    )


make_deployments.counter = 0


def run(*args: str) -> dict[str, str]:
    """Run the command; return the summary lines as {label: value}, plus
    `_out` (the whole stdout)."""
    out = StringIO()
    call_command("transition_deployments", *args, stdout=out, stderr=StringIO())
    text = out.getvalue()
    summary = {"_out": text}
    for line in text.splitlines():
        if ": " in line and not line.startswith("would move "):
            key, value = line.strip().split(": ", 1)
            summary[key] = value
    return summary


def batch_events(to_state: str = "suspended"):
    return DeploymentEvent.objects.filter(to_state=to_state)


@pytest.fixture
def acme(db):
    return TenantFactory(slug="acme")


@pytest.fixture
def globex(db):
    return TenantFactory(slug="globex")
