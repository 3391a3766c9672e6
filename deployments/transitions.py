"""THE transitions map, the one check of a move, and the writes every move makes.

The map is not written here: it is read from the django-fsm declarations on
`Deployment` (sources, targets, permissions), so there is exactly one place to
change it. A deployment changes state through one of two paths, and only
these: `transition_state` here (one row, for the API, the admin and the clock)
and `deployments.batch.transition_batch` (a set of rows, for the batch
command). The two share the check (`decide`), the columns a move writes
(`Deployment.MOVE_COLUMNS`, `move_values`) and every write that follows the
state change (`write_moves`: the audit events, the subscriptions following).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from arcadia_cloud.actors import Actor
from arcadia_cloud.scope import scope_for
from deployments import selectors
from deployments.errors import (
    InvalidTransition,
    StateConflict,
    TransitionForbidden,
)
from deployments.events import check_reason, record_transitions
from deployments.models import Deployment, State
from deployments.resources import drive_resources
from subscriptions.models import Status
from subscriptions.services import set_status_of_deployments


class Refusal(enum.Enum):
    """Why `decide` refused a move."""

    #: The map has no such move (also: to the same state, or an unknown one).
    NOT_IN_MAP = "not_in_map"
    #: The map has the move, but not for this actor (its kind, or not its tenant).
    NOT_PERMITTED = "not_permitted"
    #: A system actor, and the deployment's automated billing actions are
    #: suspended by an operator.
    OVERRIDDEN = "overridden"


@dataclass(frozen=True)
class Rule:
    """One cell of the map: `from_state -> to_state` via `method`, allowed to `kinds`."""

    from_state: str
    to_state: str
    method: str
    kinds: frozenset[str]
    _transition: object

    def row_conditions(self, actor: Actor) -> dict[str, object] | None:
        """The column values a row must have for `actor` to make this move (the
        set-based path turns them into SQL); None when the actor's kind may not."""
        return self._transition.permission.row_conditions(actor)

    def allows(self, deployment, actor: Actor) -> bool:
        return self._transition.has_perm(deployment, actor)

    def refusal(self, row, actor: Actor) -> Refusal | None:
        """None when `actor` may make this move on `row` (a Deployment or any
        object with its `tenant_id` and `billing_action_suspended`)."""
        if self.allows(row, actor):
            return None
        conditions = self.row_conditions(actor) or {}
        if conditions.get("billing_action_suspended") is False and row.billing_action_suspended:
            return Refusal.OVERRIDDEN
        return Refusal.NOT_PERMITTED

    def refusal_sql(self, actor: Actor, alias: str) -> tuple[str, str, dict]:
        """`refusal` for every row of a set at once (the set-based path asks it
        once per run, not once per row): (allowed, overridden), two SQL
        conditions over the deployment row `alias` (named placeholders
        `rule_*`), and their values. A row is allowed when it meets every
        `row_conditions`; a refused one is overridden when the actor may not
        move overridden rows and it is one (as `refusal` says)."""
        conditions = self.row_conditions(actor)
        if conditions is None:
            return "FALSE", "FALSE", {}
        params = {f"rule_{column}": value for column, value in conditions.items()}
        allowed = (
            " AND ".join(f"{alias}.{column} = %(rule_{column})s" for column in conditions) or "TRUE"
        )
        overridden = "FALSE"
        if conditions.get("billing_action_suspended") is False:
            overridden = f"{alias}.billing_action_suspended"
        return allowed, overridden, params


def _read_map() -> dict[tuple[str, str], Rule]:
    field = Deployment._meta.get_field("state")
    rules: dict[tuple[str, str], Rule] = {}
    for t in field.get_all_transitions(Deployment):
        key = (t.source, t.target)
        if key in rules:
            raise AssertionError(f"Transition {key} declared twice")
        rules[key] = Rule(
            from_state=t.source,
            to_state=t.target,
            method=t.name,
            kinds=frozenset(t.permission.kinds),
            _transition=t,
        )
    return rules


#: (from_state, to_state) -> Rule, read once from the model's declarations.
TRANSITIONS: dict[tuple[str, str], Rule] = _read_map()
STATES: list[str] = list(State.values)
TERMINAL_STATES: frozenset[str] = frozenset(
    s for s in STATES if not any(k[0] == s for k in TRANSITIONS)
)

_BY_SOURCE: dict[str, list[Rule]] = {}
for _rule in TRANSITIONS.values():
    _BY_SOURCE.setdefault(_rule.from_state, []).append(_rule)
for _rules in _BY_SOURCE.values():
    _rules.sort(key=lambda r: STATES.index(r.to_state))


def rule_for(from_state: str, to_state: str) -> Rule | None:
    return TRANSITIONS.get((from_state, to_state))


def decide(from_state: str, to_state: str, actor: Actor, row=None) -> Rule | Refusal:
    """THE check of a move: the rule that lets `actor` move `row` from
    `from_state` to `to_state`, or why not. With `row` None only the map and the
    actor's kind are checked (a batch asks that once, before it reads a row)."""
    rule = rule_for(from_state, to_state)
    if rule is None:
        return Refusal.NOT_IN_MAP
    if row is None:
        return rule if rule.row_conditions(actor) is not None else Refusal.NOT_PERMITTED
    return rule.refusal(row, actor) or rule


def check_move(from_state: str, to_state: str, actor: Actor, row=None) -> Rule:
    """`decide`, with a refusal raised: InvalidTransition (not in the map) or
    TransitionForbidden (not this actor's move)."""
    decision = decide(from_state, to_state, actor, row)
    if decision is Refusal.NOT_IN_MAP:
        raise InvalidTransition(from_state, to_state)
    if isinstance(decision, Refusal):
        raise TransitionForbidden(from_state, to_state, actor.kind, reason=decision.value)
    return decision


def allowed_targets(deployment: Deployment, actor: Actor) -> list[str]:
    """The states `actor` may move `deployment` to right now (map order)."""
    return [r.to_state for r in _BY_SOURCE.get(deployment.state, ()) if r.allows(deployment, actor)]


#: deployment state -> the subscription status it implies; the other states
#: (trial, past_due, suspended) leave a subscription's status as it is.
SUBSCRIPTION_STATUS_FOR_STATE: dict[str, str] = {
    State.ACTIVE: Status.ACTIVE,
    State.PAUSED: Status.PAUSED,
    State.CANCELLED: Status.CANCELLED,
    State.ARCHIVED: Status.CANCELLED,
}


def subscription_status_for(state: str) -> str:
    """The status a subscription created on a deployment in `state` starts with."""
    return SUBSCRIPTION_STATUS_FOR_STATE.get(state, Status.ACTIVE)


def move_values(to_state: str, at: datetime) -> dict[str, object]:
    """Column -> value of a move to `to_state` at `at`: exactly MOVE_COLUMNS."""
    return dict(zip(Deployment.MOVE_COLUMNS, (to_state, at, at), strict=True))


def write_moves(
    *,
    deployment_ids: list[UUID],
    from_state: str,
    to_state: str,
    actor: Actor,
    reason: str,
    notes: str,
    at: datetime,
    deployment: Deployment | None = None,
) -> None:
    """Everything a move writes after the state columns, for one row (its
    `deployment` given) or a chunk of rows that made the same move, inside the
    caller's transaction (the rows are locked by it): one audit event and one
    feed event each, and the subscriptions follow. Set-based: a fixed number
    of statements whatever the number of rows."""
    record_transitions(
        deployment_ids=deployment_ids,
        from_state=from_state,
        to_state=to_state,
        actor=actor,
        reason=reason,
        notes=notes,
        occurred_at=at,
        deployment=deployment,
    )
    status = SUBSCRIPTION_STATUS_FOR_STATE.get(to_state)
    if status is not None:
        set_status_of_deployments(deployment_ids=deployment_ids, status=status)
    # The resources follow too (SPEC §8), set-based like the rest.
    drive_resources(deployment_ids=deployment_ids, to_state=to_state, actor=actor, at=at)


# -- the single-row path's statement (PostgreSQL) -----------------------------------

_q = connection.ops.quote_name
_TABLE = _q(Deployment._meta.db_table)
_ATTNAMES = [f.attname for f in Deployment._meta.concrete_fields]
_RETURNING = ", ".join(f"d.{_q(f.column)}" for f in Deployment._meta.concrete_fields)
#: Row conditions of the map (`may(...).row_conditions`) as SQL on the moved row.
_CONDITION_SQL = {
    "tenant_id": f"d.{_q('tenant_id')} = %s",
    "billing_action_suspended": f"d.{_q('billing_action_suspended')} = %s",
}
_move_sql_cache: dict[tuple[str, tuple[str, ...]], str] = {}


def move_sql(*, scope: str, conditions: tuple[str, ...]) -> str:
    """THE statement of a single-row move: lock the row (in the actor's scope:
    `scope` is the condition `Scope.sql` gives over `tenant_id`), check it is
    in one of the states the map lets this actor move from (the expected one,
    if given) and meets the map's row conditions, write MOVE_COLUMNS, and
    return the state it was in and the row after the move. Fixed text for
    each shape (at most a handful, built once); the values are parameters:
    id[, tenant], the MOVE_COLUMNS values,
    the states, the condition values.

    `old` takes the row lock first (`FOR UPDATE`, waiting for another mover
    and then reading the row as that one committed it); the UPDATE then joins
    the locked row, so `old.state` is exactly the state this move leaves, and
    a row in another state, or that fails a condition, is left as it was
    (no row returned: the caller finds out why)."""
    key = (scope, conditions)
    sql = _move_sql_cache.get(key)
    if sql is None:
        where = "".join(f" AND {_CONDITION_SQL[c]}" for c in conditions)
        assignments = ", ".join(f"{_q(c)} = %s" for c in Deployment.MOVE_COLUMNS)
        sql = (
            f"WITH old AS (SELECT {_q('id')}, {_q('state')} FROM {_TABLE} "
            f"WHERE {_q('id')} = %s AND {scope} FOR UPDATE) "
            f"UPDATE {_TABLE} d SET {assignments} FROM old "
            f"WHERE d.{_q('id')} = old.{_q('id')} AND old.{_q('state')} = ANY(%s){where} "
            f"RETURNING old.{_q('state')}, {_RETURNING}"
        )
        _move_sql_cache[key] = sql
    return sql


def _move_one(
    deployment_id: UUID, to_state: str, actor: Actor, expected_state: str | None, at: datetime
) -> tuple[Deployment, str] | None:
    """The move as one statement (`move_sql`), when the map decides it from the
    actor alone: the deployment after the move and the state it left, or None
    when the statement moved nothing (not found, another state, a row
    condition failed) or cannot express the decision; the caller then takes
    the general path, which finds out why."""
    scope = scope_for(actor)
    if scope.nothing:
        return None
    sources: list[str] = []
    conditions: dict[str, object] | None = None
    for state in STATES if expected_state is None else [expected_state]:
        decision = decide(state, to_state, actor)
        if not isinstance(decision, Rule):
            continue
        mine = decision.row_conditions(actor) or {}
        if conditions is not None and mine != conditions:
            return None
        conditions = mine
        sources.append(state)
    if not sources or not set(conditions) <= set(_CONDITION_SQL):
        return None
    keys = tuple(sorted(conditions))
    values = move_values(to_state, at)
    # auto_now: the row's write time, also when the move takes effect at `at`
    values["updated_at"] = timezone.now()
    in_scope, tenant = scope.sql(_q("tenant_id"))
    params: list[object] = [Deployment._meta.pk.to_python(deployment_id), *tenant]
    params += [*values.values(), sources, *(conditions[k] for k in keys)]
    with connection.cursor() as cursor:
        cursor.execute(move_sql(scope=in_scope, conditions=keys), params)
        row = cursor.fetchone()
    if row is None:
        return None
    return Deployment.from_db(connection.alias, _ATTNAMES, row[1:]), row[0]


def _move_general(
    deployment_id: UUID, to_state: str, actor: Actor, expected_state: str | None, at
) -> tuple[Deployment, str]:
    """The move through the ORM: lock the row in the actor's scope, check it
    (`check_move`), write MOVE_COLUMNS; the deployment and the state it left.
    Raises the refusals (not found, conflict, not in the map, forbidden)."""
    deployment = selectors.lock_deployment_visible_to(actor, deployment_id)
    from_state = deployment.state
    if expected_state is not None and expected_state != from_state:
        raise StateConflict(expected_state, from_state)
    rule = check_move(from_state, to_state, actor, deployment)
    getattr(deployment, rule.method)(at or timezone.now())
    deployment.save(update_fields=list(Deployment.MOVE_COLUMNS))
    return deployment, from_state


def transition_state(
    *,
    deployment_id: UUID,
    to_state: str,
    actor: Actor,
    reason: str = "",
    notes: str = "",
    expected_state: str | None = None,
    at: datetime | None = None,
) -> Deployment:
    """Move one deployment to `to_state`: the single-row path.

    `at` is when the move takes effect (its `state_since` and the event's time;
    default now): the billing clock moves a trial that ended at `trial_ends_at`
    as of that instant, and the demo replays its history.

    The deployment is looked up in the actor's scope: another tenant's is
    DeploymentNotFound, exactly as a missing one, so a refusal never tells a
    tenant anything about it. In one transaction: lock the row (`SELECT ... FOR
    UPDATE`, so two callers racing on one deployment are serialised and the
    second sees the first's result instead of both passing the check on the
    same old state; the scope check and the lock are one query), check
    `expected_state` (StateConflict), then `check_move` (InvalidTransition,
    TransitionForbidden), write MOVE_COLUMNS, then `write_moves`. Raises before
    writing anything.

    On PostgreSQL the lock, the checks and the write are one statement
    (`move_sql`), its decision taken from the same map (`decide` for every
    state the row may be in, `Rule.row_conditions` as SQL); only when that
    statement moves nothing does the general path (`_move_general`) lock the row and say
    why (or, if the row changed meanwhile, move it).
    """
    check_reason(reason)
    with transaction.atomic():
        moved = None
        if connection.vendor == "postgresql":
            moved = _move_one(deployment_id, to_state, actor, expected_state, at or timezone.now())
        if moved is None:
            moved = _move_general(deployment_id, to_state, actor, expected_state, at)
        deployment, from_state = moved
        write_moves(
            deployment_ids=[deployment.pk],
            from_state=from_state,
            to_state=to_state,
            actor=actor,
            reason=reason,
            notes=notes,
            at=deployment.state_since,
            deployment=deployment,
        )
    return deployment
