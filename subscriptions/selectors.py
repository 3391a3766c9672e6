"""Subscription reads."""

from __future__ import annotations

from uuid import UUID


def subscription_payload_for_deployment(deployment_id: UUID) -> dict | None:
    """The subscription of a deployment in its API shape, or None.

    Subscriptions arrive with the catalog; until then no deployment has one.
    """
    return None
