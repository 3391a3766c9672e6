"""The deployment's shape (SPEC §3), one definition for the API and the feed.

The API renders it for its caller (`allowed_transitions`: the moves that
caller may make now). A feed event carries it as it was after the fact, for
whoever reads the feed later, so there `allowed_transitions` are the moves the
deployment's own tenant may make: the view every reader can act on.

Two renderings of the same fields: `deployment_shape` in Python (the API, and
single-row events), and `deployment_shape_sql` in SQL for the set-based batch,
which writes thousands of events in one statement without a row passing
through Python. A test holds the two to the same output for every state.
"""

from __future__ import annotations

from typing import Any

from arcadia_cloud.actors import TENANT, Actor
from arcadia_cloud.formats import iso, iso_sql
from deployments.models import Deployment

#: The columns of the shape, in order (`allowed_transitions` follows them).
FIELDS = (
    "id",
    "tenant_id",
    "slug",
    "display_name",
    "region",
    "state",
    "state_since",
    "llm_mode",
    "template_code",
    "template_version",
    "billing_action_suspended",
    "created_at",
)
_UUIDS = {"id", "tenant_id"}
_TIMES = {"state_since", "created_at"}


def deployment_shape(deployment: Deployment, actor: Actor) -> dict[str, Any]:
    """The deployment as `actor` sees it now."""
    # Imported here: the transitions module records its events through this one.
    from deployments.transitions import allowed_targets

    return {
        "id": str(deployment.id),
        "tenant_id": str(deployment.tenant_id),
        "slug": deployment.slug,
        "display_name": deployment.display_name,
        "region": deployment.region,
        "state": deployment.state,
        "state_since": iso(deployment.state_since),
        "llm_mode": deployment.llm_mode,
        "template_code": deployment.template_code,
        "template_version": deployment.template_version,
        "billing_action_suspended": deployment.billing_action_suspended,
        "created_at": iso(deployment.created_at),
        "allowed_transitions": allowed_targets(deployment, actor),
    }


def event_view(deployment: Deployment) -> dict[str, Any]:
    """The shape a feed event carries: as the deployment's tenant sees it."""
    return deployment_shape(deployment, tenant_view_of(deployment))


def tenant_view_of(deployment: Deployment) -> Actor:
    return Actor(kind=TENANT, label="", tenant_id=deployment.tenant_id)


def _sql_allowed_transitions(state_column: str) -> str:
    """The tenant's moves from each state, from the map (no tenant move needs
    more than the row's own tenant, which a tenant view always has)."""
    from deployments.transitions import _BY_SOURCE

    cases = []
    for state, rules in _BY_SOURCE.items():
        targets = [rule.to_state for rule in rules if TENANT in rule.kinds]
        if targets:
            items = ", ".join(f"'{target}'" for target in targets)
            cases.append(f"WHEN '{state}' THEN jsonb_build_array({items})")
    return f"CASE {state_column} {' '.join(cases)} ELSE '[]'::jsonb END"


def deployment_shape_sql(alias: str) -> str:
    """A PostgreSQL expression building `event_view` of the row `alias` (a
    `deployments_deployment` row) as jsonb."""
    parts = []
    for field in FIELDS:
        column = f"{alias}.{field}"
        if field in _UUIDS:
            value = f"{column}::text"
        elif field in _TIMES:
            value = iso_sql(column)
        else:
            value = column
        parts.append(f"'{field}', {value}")
    parts.append(f"'allowed_transitions', {_sql_allowed_transitions(f'{alias}.state')}")
    return f"jsonb_build_object({', '.join(parts)})"
