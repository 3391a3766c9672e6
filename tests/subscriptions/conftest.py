"""URLs of the subscription routes under a deployment."""

from __future__ import annotations


def subscribe_url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/subscribe"


def addons_url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/subscription/addons"


def change_plan_url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/subscription/change-plan"
