"""Schemathesis against /api/v1/schema, in process (WSGI), with a bearer token.

Bounded in CI (FUZZ_EXAMPLES per operation, default below, >= 1,000 cases in
all); set FUZZ_EXAMPLES=2000 (say) for a longer run. Checks: no server error,
documented status codes, responses and content types conform to the schema.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import checks

from deployments.services import create_subscription
from tests.factories import SYSTEM_ACTOR, make_deployment, token_for

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0")) or 100
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.response_schema_conformance,
    checks.content_type_conformance,
]
COUNTED: dict[str, int] = {}


# Loaded once, at collection, from the app's own endpoint (no database needed).
schema = schemathesis.openapi.from_wsgi("/api/v1/schema?format=json", get_wsgi_application())


@pytest.fixture
def in_process(db):
    """Requests run inside the test's transaction: like Django's test client, keep
    the request signals from closing the test's database connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_world(in_process, tenant, tenant_identity, other_tenant):
    """A catalog, the caller's deployments (one subscribed) and a foreign one."""
    call_command("seed_catalog", verbosity=0)
    subscribed = make_deployment(tenant, slug="fuzz-subscribed")
    create_subscription(deployment_id=subscribed.pk, plan_code="studio", actor=SYSTEM_ACTOR)
    ids = [subscribed.pk, make_deployment(tenant, slug="fuzz-own").pk]
    ids.append(make_deployment(other_tenant, slug="fuzz-foreign").pk)
    return {"token": token_for(tenant_identity), "ids": ids}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_schema(case, fuzz_world):
    label = f"{case.operation.method.upper()} {case.operation.path}"
    n = COUNTED[label] = COUNTED.get(label, 0) + 1
    # Random ids mostly miss: every other case targets a real deployment
    # (subscribed, unsubscribed, another tenant's) so the handlers run too.
    if "id" in (case.path_parameters or {}) and n % 2:
        case.path_parameters["id"] = str(fuzz_world["ids"][(n // 2) % 3])
    case.call_and_validate(
        headers={"Authorization": f"Bearer {fuzz_world['token']}"}, checks=CHECKS
    )


def test_the_run_generated_enough_cases():
    """Runs after the parametrized cases above (same module, file order)."""
    operations = {f"{op.method.upper()} {op.path}" for op in _operations()}
    if set(COUNTED) != operations:
        # A partial local run (-k, one file's subset) may skip the count; CI
        # always runs the whole module and must reach it.
        if os.environ.get("CI"):
            pytest.fail(f"fuzz cases missing from the run: {operations - set(COUNTED)}")
        pytest.skip("the fuzz cases did not all run in this session")
    if os.environ.get("FUZZ_REPORT"):
        Path(os.environ["FUZZ_REPORT"]).write_text(json.dumps(COUNTED, indent=1))
    assert sum(COUNTED.values()) >= 1000, COUNTED


def _operations():
    return [result.ok() for result in schema.get_all_operations()]
