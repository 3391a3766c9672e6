"""Several walkers of one run (`--workers`), like several machines, each
skipping what the others hold: a walker whose lock query started before
another walker committed a chunk must not close that chunk's periods again."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from billing.clock import run_billing_cycle
from billing.models import Statement
from catalog.models import PlanVersion
from deployments.models import Deployment, DeploymentEvent
from subscriptions.models import Subscription
from tests.conftest import requires_postgres
from tests.factories import TenantFactory

CREATED = datetime(2025, 12, 15, tzinfo=UTC)
AS_OF = datetime(2026, 3, 1, tzinfo=UTC)


def many_subscriptions(n: int) -> None:
    """`n` subscriptions active since December, their period January, in bulk."""
    tenant = TenantFactory(slug="walkers")
    deployments = Deployment.objects.bulk_create(
        [
            Deployment(
                tenant=tenant,
                slug=f"walker-{i}",
                display_name="Walker",
                region="us-east-1",
                state="active",
                state_since=CREATED,
                created_at=CREATED,
            )
            for i in range(n)
        ]
    )
    DeploymentEvent.objects.bulk_create(
        [
            DeploymentEvent(
                deployment=d,
                to_state="active",
                reason="created",
                actor="system",
                occurred_at=CREATED,
            )
            for d in deployments
        ]
    )
    version = PlanVersion.objects.filter(plan__code="studio").order_by("version").first()
    Subscription.objects.bulk_create(
        [
            Subscription(
                deployment=d,
                plan_version=version,
                current_period_start=date(2026, 1, 1),
                current_period_end=date(2026, 2, 1),
                created_at=CREATED,
            )
            for d in deployments
        ]
    )


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("seeded")
def test_walkers_at_once_close_each_period_once_and_nothing_fails():
    n = 4000
    many_subscriptions(n)
    # chunks large enough that one walker's scan is still running when the
    # other commits the chunk just ahead of it
    result = run_billing_cycle(as_of=AS_OF, batch_size=500, workers=2)
    assert result.errors == []
    assert (result.failed, result.seen, result.periods_closed) == (0, n, 2 * n)
    assert Statement.objects.count() == 2 * n
