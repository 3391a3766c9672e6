"""Fixtures for the batch command: many deployments made cheaply, and a runner."""

from __future__ import annotations

from contextlib import contextmanager
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


@contextmanager
def events_refused_for(deployment_ids, message: str = "events table unavailable"):
    """A database that refuses to record an event of these deployments: a
    trigger on the events table (the set-based path writes events inside its
    one statement, so no Python hook would see them). Dropped afterwards."""
    from django.db import connection

    table = DeploymentEvent._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            ids = ", ".join(f"'{pk}'" for pk in deployment_ids)
            cursor.execute(
                "CREATE FUNCTION refuse_batch_events() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN IF NEW.deployment_id IN ({ids}) THEN RAISE EXCEPTION '{message}'; "
                "END IF; RETURN NEW; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER refuse_batch_events BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse_batch_events()"
            )
        else:
            ids = ", ".join(f"'{pk.hex}'" for pk in deployment_ids)
            cursor.execute(
                f"CREATE TRIGGER refuse_batch_events BEFORE INSERT ON {table} "
                f"WHEN NEW.deployment_id IN ({ids}) BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DROP TRIGGER refuse_batch_events ON {table}"
                if connection.vendor == "postgresql"
                else "DROP TRIGGER refuse_batch_events"
            )
            if connection.vendor == "postgresql":
                cursor.execute("DROP FUNCTION refuse_batch_events()")
