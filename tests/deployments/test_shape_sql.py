"""The list endpoint's page is built in SQL (`deployments.selectors.deployment_page`
on PostgreSQL, `deployments.shapes.shape_columns_sql`); the rest of the API
renders the same shape in Python (`deployments.shapes.deployment_shape`). Held
to the same output here, for every state, both values of the operator override,
a microsecond and a whole-second timestamp, and every kind of actor, each
seeing its own and another tenant's rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from arcadia_cloud.actors import CONTROLLER, OPERATOR, SYSTEM, TENANT, Actor
from deployments.models import Deployment
from deployments.selectors import deployment_page
from deployments.shapes import SHAPE_KEYS, deployment_shape, shape_columns_sql
from deployments.transitions import STATES
from tests.factories import make_deployment

pytestmark = pytest.mark.django_db

#: Names the text must carry through as they are: quotes, backslashes,
#: control characters, non-ASCII, the line separators.
AWKWARD = [
    'a "quoted" \\ name',
    "tab\there, line\nbreak, bell\x07, del\x7f",
    "ünïcödé ✓ 雲 🚀",
    "sep\u2028par\u2029end",
    "</script>&<>'",
    "An app",
]


def _actors(tenant, other_tenant) -> dict[str, Actor]:
    return {
        "tenant": Actor(kind=TENANT, label="t", tenant_id=tenant.pk),
        "other tenant": Actor(kind=TENANT, label="o", tenant_id=other_tenant.pk),
        "tenant without one": Actor(kind=TENANT, label="n"),
        "operator": Actor(kind=OPERATOR, label="op"),
        "system": Actor(kind=SYSTEM, label="sys"),
        "system, overridden too": Actor(kind=SYSTEM, label="sys", include_overridden=True),
        "controller": Actor(kind=CONTROLLER, label="c"),
    }


@pytest.fixture
def every_kind_of_row(tenant, other_tenant):
    """One deployment per state x override x tenant; half of them with a
    whole-second state_since (iso() drops the zero microseconds)."""
    rows = []
    for owner in (tenant, other_tenant):
        for state in STATES:
            for suspended in (False, True):
                rows.append(make_deployment(owner, template_code=None))
                whole = datetime(2026, 3, 1, 12, 0, len(rows) % 60, tzinfo=UTC)
                Deployment.objects.filter(pk=rows[-1].pk).update(
                    display_name=AWKWARD[len(rows) % len(AWKWARD)],
                    state=state,
                    billing_action_suspended=suspended,
                    state_since=whole if len(rows) % 2 else rows[-1].state_since,
                )
    return list(Deployment.objects.filter(pk__in=[r.pk for r in rows]))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQL shapes are PostgreSQL's")
def test_the_sql_shape_is_the_python_shape_for_every_row_and_actor(
    tenant, other_tenant, every_kind_of_row
):
    ids = [d.pk for d in every_kind_of_row]
    for name, actor in _actors(tenant, other_tenant).items():
        columns, params = shape_columns_sql("d", actor)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT d.id, {columns} FROM deployments_deployment d WHERE d.id = ANY(%(ids)s)",
                {**params, "ids": ids},
            )
            from_sql = {row[0]: dict(zip(SHAPE_KEYS, row[1:], strict=True)) for row in cursor}
        assert len(from_sql) == len(every_kind_of_row)
        for deployment in every_kind_of_row:
            assert from_sql[deployment.pk] == deployment_shape(deployment, actor), (
                name,
                deployment,
            )


def test_a_page_is_the_orm_page_in_the_shape(tenant, other_tenant, every_kind_of_row):
    """`deployment_page` against the ORM's own reading of the same scope,
    conditions, order, limit and offset (on SQLite it is that reading)."""
    from deployments.selectors import deployments_visible_to

    cases = [
        ({}, 50, 0),
        ({}, 5, 3),
        ({"state": "paused"}, 50, 0),
        ({"region": "us-east-1", "state": "active"}, 1, 1),
        ({"tenant_id": other_tenant.pk}, 50, 0),
        ({}, 50, 10_000),  # past the end: no rows, the count still
    ]
    for name, actor in _actors(tenant, other_tenant).items():
        for conditions, limit, offset in cases:
            expected = deployments_visible_to(actor).filter(**conditions)
            count, rows = deployment_page(actor, conditions, limit=limit, offset=offset)
            assert count == expected.count(), (name, conditions)
            shapes = [deployment_shape(d, actor) for d in expected[offset : offset + limit]]
            assert rows == shapes, (name, conditions, limit, offset)
