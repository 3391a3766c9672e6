"""Reads of deployments, always through the tenant scope."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet

from arcadia_cloud.api.scoping import scope_to
from deployments.models import Deployment, DeploymentEvent

SHOW_EVENTS = 100


def deployments_visible_to(identity) -> QuerySet[Deployment]:
    return scope_to(Deployment.objects.all(), identity)


def get_deployment_visible_to(identity, deployment_id: UUID | str) -> Deployment | None:
    """The deployment if `identity` may see it; None for foreign and missing alike."""
    return deployments_visible_to(identity).filter(pk=deployment_id).first()


def get_deployment_for_show(identity, deployment_id: UUID | str) -> Deployment | None:
    """Like `get_deployment_visible_to`, with the subscription, its plan version
    and plan joined in the same query (the show endpoint renders all of them;
    one round trip instead of two on the API's hottest read)."""
    return (
        deployments_visible_to(identity)
        .select_related("subscription__plan_version__plan")
        .filter(pk=deployment_id)
        .first()
    )


def subscription_of(deployment: Deployment):
    """The deployment's subscription from a `get_deployment_for_show` row, or None."""
    try:
        return deployment.subscription
    except ObjectDoesNotExist:
        return None


def newest_events(deployment_id: UUID, *, limit: int = SHOW_EVENTS) -> list[DeploymentEvent]:
    """The newest `limit` events, returned oldest first."""
    rows = list(DeploymentEvent.objects.filter(deployment_id=deployment_id).order_by("-id")[:limit])
    rows.reverse()
    return rows


def events_of(deployment_id: UUID) -> QuerySet[DeploymentEvent]:
    return DeploymentEvent.objects.filter(deployment_id=deployment_id).order_by("id")


# ---- batch selection (manage.py transition_deployments) ----------------------

#: Largest number of ids one `pk IN (...)` filter carries when selecting by ids.
_ID_SLICE = 10_000


def batch_candidates(
    *,
    from_state: str,
    tenant_id: UUID | None = None,
    region: str | None = None,
    state_since_before: datetime | None = None,
) -> QuerySet[Deployment]:
    """Deployments a batch move from `from_state` applies to (every tenant unless
    `tenant_id`). The overridden ones are included: the batch counts them as
    skipped, so the operator sees they exist."""
    queryset = Deployment.objects.filter(state=from_state)
    if tenant_id is not None:
        queryset = queryset.filter(tenant_id=tenant_id)
    if region is not None:
        queryset = queryset.filter(region=region)
    if state_since_before is not None:
        queryset = queryset.filter(state_since__lte=state_since_before)
    return queryset


def batch_candidate_ids(
    candidates: QuerySet[Deployment], *, ids: list[UUID] | None = None
) -> list[UUID]:
    """The primary keys of `candidates` (restricted to `ids` when given), in
    primary-key order: the order the batch walks and locks them in."""
    if ids is None:
        return list(candidates.order_by("pk").values_list("pk", flat=True))
    wanted = sorted(set(ids))
    found: list[UUID] = []
    for start in range(0, len(wanted), _ID_SLICE):
        found.extend(
            candidates.filter(pk__in=wanted[start : start + _ID_SLICE])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    return found
