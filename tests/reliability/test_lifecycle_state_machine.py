"""A Hypothesis state machine over the deployment lifecycle, through the API.

Random transitions by random callers (the deployment's tenant, a platform
admin, another tenant's identity), with or without `expected_state`. The
expected outcome comes from an independent copy of the SPEC's table (not from
the code's map). Invariants after every step: the database state equals the
model's, each deployment's events form a contiguous chain from its creation,
and a refused move wrote nothing.
"""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from arcadia_cloud.actors import Actor
from deployments.models import Deployment, DeploymentEvent
from deployments.services import create_deployment
from tests.factories import token_for
from tests.reliability.conftest import bearer, post_json

STATES = ["trial", "active", "past_due", "paused", "suspended", "cancelled", "archived"]

# SPEC.md §2, "The transitions map", copied by hand: (from, to) -> who may.
SPEC = {
    ("trial", "active"): {"operator", "system"},
    ("trial", "past_due"): {"operator", "system"},
    ("trial", "paused"): {"operator"},
    ("trial", "cancelled"): {"tenant", "operator", "system"},
    ("active", "past_due"): {"operator", "system"},
    ("active", "suspended"): {"operator", "system"},
    ("active", "paused"): {"tenant", "operator"},
    ("active", "cancelled"): {"tenant", "operator"},
    ("past_due", "active"): {"operator", "system"},
    ("past_due", "suspended"): {"operator", "system"},
    ("past_due", "cancelled"): {"tenant", "operator"},
    ("paused", "active"): {"tenant", "operator"},
    ("paused", "cancelled"): {"tenant", "operator"},
    ("suspended", "active"): {"operator"},
    ("suspended", "cancelled"): {"tenant", "operator"},
    ("cancelled", "archived"): {"operator", "system"},
}
KIND = {"tenant": "tenant", "admin": "operator"}
EMAIL = {"tenant": "owner@acme.example", "admin": "admin@arcadia.example"}
SLUGS = itertools.count()


def allowed_for(state: str, kind: str) -> set[str]:
    return {to for (frm, to), kinds in SPEC.items() if frm == state and kind in kinds}


class Lifecycle(RuleBasedStateMachine):
    clients: dict = {}
    tenant = None
    admin = None

    deployments = Bundle("deployments")

    def __init__(self):
        super().__init__()
        self.model: dict[str, dict] = {}

    def _track(self, deployment_id: str, state: str, actor: str):
        self.model[deployment_id] = {"state": state, "chain": [(None, state, actor)]}
        return deployment_id

    @rule(target=deployments, who=st.sampled_from(["tenant", "admin"]))
    def create_through_the_api(self, who):
        body = {"slug": f"sm-{next(SLUGS)}", "display_name": "SM", "region": "us-east-1"}
        if who == "admin":
            body["tenant_id"] = str(self.tenant.id)
        response = post_json(self.clients[who], "/api/v1/deployments", body)
        assert response.status_code == 201, response.content
        return self._track(response.json()["deployment"]["id"], "active", EMAIL[who])

    @rule(target=deployments)
    def operator_creates_a_trial(self):
        # The one way into trial (SPEC: an operator creating one), via the admin's service.
        deployment = create_deployment(
            tenant=self.tenant,
            slug=f"sm-{next(SLUGS)}",
            display_name="SM trial",
            region="us-east-1",
            initial_state="trial",
            actor=Actor.for_staff(self.admin),
        )
        return self._track(str(deployment.pk), "trial", self.admin.email)

    @rule(
        deployment_id=deployments,
        who=st.sampled_from(["tenant", "admin", "stranger"]),
        expected=st.sampled_from(["none", "none", "right", "wrong"]),
        reason=st.text(max_size=20).filter(lambda s: "\x00" not in s),
        data=st.data(),
    )
    def move(self, deployment_id, who, expected, reason, data):
        current = self.model[deployment_id]["state"]
        # Mostly a move the map has from here (by anyone), else anything at all.
        targets = sorted(to for frm, to in SPEC if frm == current)
        anything = st.sampled_from([*STATES, "bogus", ""])
        to_state = data.draw(
            st.one_of(st.sampled_from(targets), st.sampled_from(targets), anything)
            if targets
            else anything,
            label="to_state",
        )
        body = {"to_state": to_state, "reason": reason}
        if expected == "right":
            body["expected_state"] = current
        elif expected == "wrong":
            body["expected_state"] = next(s for s in STATES if s != current)
        before = Deployment.objects.values("state", "state_since", "updated_at").get(
            pk=deployment_id
        )
        response = post_json(
            self.clients[who], f"/api/v1/deployments/{deployment_id}/transition", body
        )

        if who == "stranger":
            outcome = (404, {"error": "not_found"})
        elif to_state == "":
            outcome = (400, None)
        elif expected == "wrong":
            outcome = (
                409,
                {"error": "state_conflict", "expected": body["expected_state"], "actual": current},
            )
        elif (current, to_state) not in SPEC:
            outcome = (422, {"error": "invalid_transition", "from": current, "to": to_state})
        elif KIND[who] not in SPEC[(current, to_state)]:
            outcome = (403, {"error": "forbidden"})
        else:
            outcome = (200, None)
        assert response.status_code == outcome[0], (current, to_state, who, response.content)
        if outcome[1] is not None:
            assert response.json() == outcome[1]

        if response.status_code == 200:
            shown = response.json()["deployment"]
            assert shown["state"] == to_state
            assert set(shown["allowed_transitions"]) == allowed_for(to_state, KIND[who])
            self.model[deployment_id]["state"] = to_state
            self.model[deployment_id]["chain"].append((current, to_state, EMAIL[who]))
        else:
            after = Deployment.objects.values("state", "state_since", "updated_at").get(
                pk=deployment_id
            )
            assert after == before, "a refused move changed the deployment"

    @invariant()
    def database_matches_the_model(self):
        states = dict(Deployment.objects.filter(pk__in=list(self.model)).values_list("id", "state"))
        assert {str(k): v for k, v in states.items()} == {
            k: v["state"] for k, v in self.model.items()
        }

    @invariant()
    def events_are_a_contiguous_chain(self):
        for deployment_id, expected in self.model.items():
            events = list(
                DeploymentEvent.objects.filter(deployment_id=deployment_id)
                .order_by("id")
                .values_list("from_state", "to_state", "actor")
            )
            assert events == expected["chain"]
            for previous, following in itertools.pairwise(events):
                assert following[0] == previous[1]


EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0")) or 25


@pytest.mark.django_db
def test_lifecycle_through_the_api(tenant, tenant_identity, other_identity, platform_admin):
    Lifecycle.tenant = tenant
    Lifecycle.admin = platform_admin
    Lifecycle.clients = {
        "tenant": bearer(token_for(tenant_identity)),
        "admin": bearer(token_for(platform_admin)),
        "stranger": bearer(token_for(other_identity)),
    }
    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_the_spec_copy_matches_the_declared_map():
    """The independent table and the code's map agree (kinds per move)."""
    from deployments.transitions import TRANSITIONS

    assert {k: set(v.kinds) for k, v in TRANSITIONS.items()} == SPEC
