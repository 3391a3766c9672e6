"""Helpers shared by the deployment service and API tests."""

from __future__ import annotations

import itertools
from datetime import timedelta

from django.utils import timezone

LONG_AGO = timedelta(days=30)


def put_in_state(deployment, state: str):
    """Given step: put `deployment` in `state` since a month ago, bypassing the map
    (a queryset update, no event), so a later move of `state_since` is visible."""
    from deployments.models import Deployment

    Deployment.objects.filter(pk=deployment.pk).update(
        state=state, state_since=timezone.now() - LONG_AGO
    )
    deployment.refresh_from_db()
    return deployment


def snapshot(deployment) -> dict:
    """Everything a refused transition must leave untouched: the row and its events."""
    from deployments.models import Deployment, DeploymentEvent

    row = Deployment.objects.filter(pk=deployment.pk).values().get()
    events = list(DeploymentEvent.objects.filter(deployment_id=deployment.pk).values())
    return {"row": row, "events": events}


def assert_chain_contiguous(deployment) -> list:
    """The audit trail of `deployment` is one unbroken path ending at its state."""
    from deployments.models import Deployment, DeploymentEvent

    events = list(DeploymentEvent.objects.filter(deployment_id=deployment.pk).order_by("id"))
    assert events, "every deployment has at least its creation event"
    assert events[0].from_state is None
    for previous, current in itertools.pairwise(events):
        assert current.from_state == previous.to_state, (previous, current)
        assert current.from_state is not None
    state = Deployment.objects.values_list("state", flat=True).get(pk=deployment.pk)
    assert events[-1].to_state == state
    return events
