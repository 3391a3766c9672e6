"""Reads of deployments.

The reads an actor makes go through its tenant scope (`deployments_visible_to`,
`get_deployment_visible_to`, `get_deployment_for_show`, all built on
`arcadia_cloud.scope.scope_for`). The reads further down (`tenant_deployments`,
the dashboard counts, `latest_events`, the batch candidates) are for operators
and batch commands, who see every tenant; no API view uses them."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from arcadia_cloud.actors import Actor
from arcadia_cloud.scope import scope_for
from deployments.models import Deployment, DeploymentEvent, State
from subscriptions.selectors import SHAPE_PREFETCH

SHOW_EVENTS = 100


def deployments_visible_to(actor: Actor) -> QuerySet[Deployment]:
    return scope_for(actor).filter(Deployment.objects.all())


def get_deployment_visible_to(actor: Actor, deployment_id: UUID | str) -> Deployment | None:
    """The deployment if `actor` may see it; None for foreign and missing alike."""
    return deployments_visible_to(actor).filter(pk=deployment_id).first()


def get_deployment_for_show(actor: Actor, deployment_id: UUID | str) -> Deployment | None:
    """Like `get_deployment_visible_to`, with the subscription, its plan version
    and plan joined in the same query and its add-on lines prefetched (the show
    endpoint renders all of them on the API's hottest read)."""
    return (
        deployments_visible_to(actor)
        .select_related("subscription__plan_version__plan")
        .prefetch_related(
            *(
                Prefetch(f"subscription__{p.prefetch_through}", queryset=p.queryset)
                for p in SHAPE_PREFETCH
            )
        )
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


# -- Operator console reads (admin dashboard and deployment page) -------------
# Each is one aggregate query, however many deployments there are.

PAST_DUE_AGES_DAYS = (7, 14, 30)


def deployment_counts_by_state() -> dict[str, int]:
    """Deployments per state, every state present (0 when none), in map order."""
    counts = dict(
        Deployment.objects.order_by()
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    return {state: counts.get(state, 0) for state in State.values}


def deployment_counts_by_region() -> dict[str, int]:
    """Deployments per region: the configured regions first (0 when none), then any other."""
    counts = dict(
        Deployment.objects.order_by()
        .values_list("region")
        .annotate(n=Count("id"))
        .values_list("region", "n")
    )
    ordered = {region: counts.pop(region, 0) for region in settings.ARCADIA_REGIONS}
    ordered.update(sorted(counts.items()))
    return ordered


def past_due_older_than(
    days: tuple[int, ...] = PAST_DUE_AGES_DAYS, *, now: datetime | None = None
) -> dict[int, int]:
    """How many deployments have been `past_due` for at least each of `days` days."""
    now = now or timezone.now()
    aggregates = {
        f"d{d}": Count("id", filter=Q(state_since__lte=now - timedelta(days=d))) for d in days
    }
    row = Deployment.objects.filter(state=State.PAST_DUE).aggregate(**aggregates)
    return {d: row[f"d{d}"] for d in days}


def latest_events(limit: int = 20) -> list[DeploymentEvent]:
    """The newest events across all deployments, newest first, with their deployment
    and tenant (one query)."""
    return list(
        DeploymentEvent.objects.select_related("deployment__tenant").order_by("-id")[:limit]
    )


def tenant_deployments(tenant_id, *, exclude_id=None, limit: int = 10) -> list[Deployment]:
    """A tenant's deployments (newest first), for the console's "other deployments"."""
    rows = Deployment.objects.filter(tenant_id=tenant_id)
    if exclude_id is not None:
        rows = rows.exclude(pk=exclude_id)
    return list(rows.order_by("-created_at", "-id")[:limit])


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


def batch_candidate_count(
    candidates: QuerySet[Deployment], *, ids: list[UUID] | None = None
) -> int:
    """How many deployments `candidates` holds (only those of `ids` when given):
    what a batch run reports as matched when it starts."""
    if ids is None:
        return candidates.count()
    wanted = sorted(set(ids))
    return sum(
        candidates.filter(pk__in=wanted[start : start + _ID_SLICE]).count()
        for start in range(0, len(wanted), _ID_SLICE)
    )


def overrides_on_count() -> int:
    """Deployments whose automated billing actions are suspended (the override on)."""
    return Deployment.objects.filter(billing_action_suspended=True).order_by().count()


def state_counts_of_tenant(tenant_id: UUID) -> dict[str, int]:
    """The tenant's deployments per state, in the map's order, zeros included. One query."""
    rows = dict(
        Deployment.objects.filter(tenant_id=tenant_id)
        .order_by()
        .values_list("state")
        .annotate(n=Count("id"))
    )
    return {state: rows.get(state, 0) for state in State.values}
