"""Subscription write services."""

from __future__ import annotations


def follow_deployment_state(*, deployment_ids: list, deployment_state: str) -> int:
    """Make the subscriptions of `deployment_ids` follow their deployment's new state.

    Called by the transition service inside its transaction. Subscriptions
    arrive with the catalog; until then there is nothing to follow.
    """
    return 0
