"""The batch's statements per chunk are constant in the number of rows: no
per-row query hides in the lock/validate/move loop."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arcadia_cloud import db
from arcadia_cloud.actors import Actor
from deployments import batch
from tests.batch.conftest import make_deployments
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def _statements(monkeypatch, rows: int) -> tuple[int, int]:
    """(ORM queries, statements on the server-binding cursor) for one run
    over `rows` due deployments, all in one chunk."""
    tenant = TenantFactory()
    make_deployments(tenant, rows)
    raw = {"n": 0}
    real = db.server_binding_cursor

    def counting_cursor():
        raw["n"] += 1
        return real()

    # the set-based statements (lock, UPDATE, COPY) run on psycopg cursors that
    # are not in Django's query log: count each cursor opened (one statement each)
    monkeypatch.setattr(batch, "server_binding_cursor", counting_cursor)
    monkeypatch.setattr("deployments.events.server_binding_cursor", counting_cursor)
    with CaptureQueriesContext(connection) as orm:
        result = batch.transition_batch(
            selection=batch.BatchSelection(
                from_state="past_due", to_state="suspended", tenant_id=tenant.pk
            ),
            actor=Actor.system("system:test"),
            reason="dunning",
            batch_size=100,
            workers=1,
        )
    assert result.moved == rows
    return len(orm.captured_queries), raw["n"]


def test_one_chunk_costs_the_same_for_5_rows_and_for_60(monkeypatch):
    small = _statements(monkeypatch, 5)
    large = _statements(monkeypatch, 60)
    # ORM: the candidate ids, the chunk's savepoint/transaction statements, the
    # subscriptions' follow UPDATE, and the commit-mode statements around the
    # run (on SQLite: the lock SELECT and UPDATE too, and bulk_create in 500s).
    # Server-binding cursor (PostgreSQL): the lock, the UPDATE and the COPY.
    assert large == small
    orm, raw = small
    assert orm <= 10
    assert raw == (3 if connection.vendor == "postgresql" else 0)
