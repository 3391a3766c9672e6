"""The deployment's shape (SPEC §3), one definition for the API and the feed.

The API renders it for its caller (`allowed_transitions`: the moves that
caller may make now). A feed event carries it as it was after the fact, for
whoever reads the feed later, so there `allowed_transitions` are the moves the
deployment's own tenant may make: the view every reader can act on.

Two renderings of the same fields: `deployment_shape` in Python (the API, and
single-row events), and in SQL: `deployment_shape_sql` (the tenant's view, as
jsonb) for the set-based batch, which writes thousands of events in one
statement without a row passing through Python, and `shape_columns_sql` (any
actor's view, one column per field) for the list endpoint, which reads a page
of shapes without building a model instance. Tests hold the SQL to the
Python output for every state and every kind of actor.
"""

from __future__ import annotations

import contextlib
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


def _sql_value(alias: str, field: str) -> str:
    column = f"{alias}.{field}"
    if field in _UUIDS:
        return f"{column}::text"
    if field in _TIMES:
        return iso_sql(column)
    return column


def _sql_allowed_for(alias: str, actor: Actor) -> tuple[str, dict[str, object]]:
    """`allowed_targets(row, actor)` as a PostgreSQL text[] expression over the
    row `alias`, and its named parameters: each move of the row's state kept
    when the row meets the rule's `row_conditions` for `actor` (the set-based
    path's reading of the same rule, `Rule.refusal_sql`), in map order."""
    from deployments.transitions import TRANSITIONS

    # What the rules ask of a row for this actor decides the result: built
    # once per distinct answer (a kind of actor, and its tenant), not per call.
    asks = tuple(
        None if c is None else tuple(c.items())
        for c in (rule.row_conditions(actor) for rule in TRANSITIONS.values())
    )
    return _allowed_sql(alias, asks, actor)


def _allowed_sql(alias: str, asks: tuple, actor: Actor) -> tuple[str, dict[str, object]]:
    found = _ALLOWED_BY_ASKS.get((alias, asks))
    if found is None:
        found = _ALLOWED_BY_ASKS[(alias, asks)] = _build_allowed_sql(alias, actor)
        if len(_ALLOWED_BY_ASKS) > 4096:  # about one per tenant: bounded, oldest out
            # (another thread may be doing the same: then one entry less is fine)
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                _ALLOWED_BY_ASKS.pop(next(iter(_ALLOWED_BY_ASKS)))
    sql, params = found
    return sql, dict(params)


_ALLOWED_BY_ASKS: dict[tuple, tuple[str, dict[str, object]]] = {}


def _build_allowed_sql(alias: str, actor: Actor) -> tuple[str, dict[str, object]]:
    from deployments.transitions import _BY_SOURCE

    params: dict[str, object] = {}
    decisions = []
    for state, rules in _BY_SOURCE.items():
        for rule in rules:
            allowed, _overridden, values = rule.refusal_sql(actor, alias)
            for name, value in values.items():
                if params.setdefault(name, value) != value:
                    raise AssertionError(f"{name}: two values for one actor")
            decisions.append((state, rule.to_state, allowed))
    # The text depends on the conditions' columns only (their values are
    # parameters): built once per kind of actor.
    key = (alias, tuple(decisions))
    if key not in _ALLOWED_SQL:
        cases = []
        for state in _BY_SOURCE:
            items = [
                f"CASE WHEN {allowed} THEN '{target}' END"
                for source, target, allowed in decisions
                if source == state and allowed != "FALSE"
            ]
            if items:
                cases.append(f"WHEN '{state}' THEN array_remove(ARRAY[{', '.join(items)}], NULL)")
        _ALLOWED_SQL[key] = (
            f"CASE {alias}.state {' '.join(cases)} ELSE '{{}}'::text[] END"
            if cases
            else "'{}'::text[]"  # an actor who may make no move at all
        )
    return _ALLOWED_SQL[key], params


_ALLOWED_SQL: dict[tuple, str] = {}


def shape_columns_sql(alias: str, actor: Actor) -> tuple[str, dict[str, object]]:
    """`deployment_shape(row, actor)` as a PostgreSQL select list over the row
    `alias`: one column per key of the shape, in order (`SHAPE_KEYS`), each
    already in the API's form (uuids and timestamps as their text), and the
    named parameters it uses (`rule_*`)."""
    allowed, params = _sql_allowed_for(alias, actor)
    columns = [_sql_value(alias, field) for field in FIELDS]
    return ", ".join([*columns, allowed]), params


#: The keys of `shape_columns_sql`'s columns, in order.
SHAPE_KEYS = (*FIELDS, "allowed_transitions")


def deployment_shape_sql(alias: str) -> str:
    """A PostgreSQL expression building `event_view` of the row `alias` (a
    `deployments_deployment` row) as jsonb."""
    parts = [f"'{field}', {_sql_value(alias, field)}" for field in FIELDS]
    parts.append(f"'allowed_transitions', {_sql_allowed_transitions(f'{alias}.state')}")
    return f"jsonb_build_object({', '.join(parts)})"
