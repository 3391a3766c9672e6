"""THE transitions map and the one function that moves a deployment.

The map is not written here: it is read from the django-fsm declarations on
`Deployment` (sources, targets, permissions), so there is exactly one place to
change it. Everything that needs to know "may this caller move this deployment
from A to B" asks this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet

from arcadia_cloud.actors import Actor
from deployments.errors import (
    DeploymentNotFound,
    InvalidTransition,
    StateConflict,
    TransitionForbidden,
)
from deployments.events import check_reason, record_transition
from deployments.models import Deployment, State
from subscriptions.services import follow_deployment_state


@dataclass(frozen=True)
class Rule:
    """One cell of the map: `from_state -> to_state` via `method`, allowed to `kinds`."""

    from_state: str
    to_state: str
    method: str
    kinds: frozenset[str]
    _transition: object

    def allows(self, deployment: Deployment, actor: Actor) -> bool:
        return self._transition.has_perm(deployment, actor)


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


def allowed_targets(deployment: Deployment, actor: Actor) -> list[str]:
    """The states `actor` may move `deployment` to right now (map order)."""
    return [r.to_state for r in _BY_SOURCE.get(deployment.state, ()) if r.allows(deployment, actor)]


def transition_state(
    *,
    deployment_id: UUID,
    to_state: str,
    actor: Actor,
    reason: str = "",
    notes: str = "",
    expected_state: str | None = None,
    visible: QuerySet[Deployment] | None = None,
) -> Deployment:
    """Move one deployment to `to_state`: the only way a deployment changes state.

    `visible` is the caller's view of the deployments (the API passes its
    tenant scope): a deployment outside it is DeploymentNotFound, exactly as a
    missing one, and the scope check and the lock are one query.

    In one transaction: lock the row (`SELECT ... FOR UPDATE`, so two callers
    racing on one deployment are serialised and the second sees the first's
    result instead of both passing the check on the same old state), check
    `expected_state` (StateConflict), the map (InvalidTransition) and the
    actor's right (TransitionForbidden), move `state` and `state_since`, append
    the event, and let the subscription follow. Raises before writing anything.
    """
    check_reason(reason)
    with transaction.atomic():
        rows = Deployment.objects.all() if visible is None else visible
        deployment = rows.select_for_update().filter(pk=deployment_id).first()
        if deployment is None:
            raise DeploymentNotFound()
        from_state = deployment.state
        if expected_state is not None and expected_state != from_state:
            raise StateConflict(expected_state, from_state)
        rule = rule_for(from_state, to_state)
        if rule is None:
            raise InvalidTransition(from_state, to_state)
        if not rule.allows(deployment, actor):
            raise TransitionForbidden(from_state, to_state, actor.kind)
        getattr(deployment, rule.method)()
        deployment.save(update_fields=["state", "state_since", "updated_at"])
        record_transition(
            deployment=deployment,
            from_state=from_state,
            to_state=to_state,
            actor=actor,
            reason=reason,
            notes=notes,
            occurred_at=deployment.state_since,
        )
        follow_deployment_state(deployment_ids=[deployment.pk], deployment_state=to_state)
    return deployment
