"""Helpers shared by the deployment service and API tests."""

from __future__ import annotations

import itertools


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


def assert_one_new_event(deployment, *, before: int, **expected):
    """`deployment` has exactly one event more than `before` and the newest has
    the `expected` field values; returns it."""
    from deployments.models import DeploymentEvent

    events = DeploymentEvent.objects.filter(deployment_id=deployment.pk)
    assert events.count() == before + 1
    event = events.latest("id")
    assert {name: getattr(event, name) for name in expected} == expected
    return event
