"""Audit rows (events, override changes) are append-only on every path: model
save/delete, queryset update/delete, and raw SQL on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from deployments.models import AppendOnlyViolation, BillingOverrideChange, DeploymentEvent
from deployments.services import set_billing_override
from tests.conftest import requires_postgres


@pytest.fixture
def event(deployment):
    return DeploymentEvent.objects.get(deployment=deployment)


@pytest.fixture
def override_change(deployment, actors):
    set_billing_override(
        deployment_id=deployment.pk, suspended=True, actor=actors["operator"], reason="hold"
    )
    return BillingOverrideChange.objects.get()


def _rows(model) -> list[dict]:
    return list(model.objects.values())


@pytest.mark.django_db
@pytest.mark.parametrize("row_fixture", ["event", "override_change"])
def test_orm_cannot_change_or_remove_an_audit_row(request, row_fixture):
    row = request.getfixturevalue(row_fixture)
    model = type(row)
    before = _rows(model)
    row.reason = "rewritten"
    with pytest.raises(AppendOnlyViolation):
        row.save()
    with pytest.raises(AppendOnlyViolation):
        row.delete()
    with pytest.raises(AppendOnlyViolation):
        model.objects.filter(pk=row.pk).update(reason="rewritten")
    with pytest.raises(AppendOnlyViolation):
        model.objects.filter(pk=row.pk).delete()
    with pytest.raises(AppendOnlyViolation):
        model.objects.bulk_update([row], ["reason"])
    assert _rows(model) == before


@requires_postgres
@pytest.mark.django_db
@pytest.mark.parametrize("row_fixture", ["event", "override_change"])
@pytest.mark.parametrize("statement", ["UPDATE {table} SET reason = 'x'", "DELETE FROM {table}"])
def test_database_refuses_raw_updates_and_deletes(request, row_fixture, statement):
    model = type(request.getfixturevalue(row_fixture))
    before = _rows(model)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement.format(table=model._meta.db_table))
    assert _rows(model) == before


@pytest.mark.django_db
def test_appending_still_works(deployment, actors):
    from deployments.transitions import transition_state

    transition_state(deployment_id=deployment.pk, to_state="paused", actor=actors["tenant"])
    assert DeploymentEvent.objects.filter(deployment=deployment).count() == 2
