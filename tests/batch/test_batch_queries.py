"""The batch's statements per chunk are constant in the number of rows: no
per-row query hides in the lock/validate/move loop."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arcadia_cloud.actors import Actor
from deployments import batch
from tests.batch.conftest import make_deployments
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def _statements(rows: int) -> list[str]:
    """The statements of one run over `rows` due deployments, all in one chunk
    (the set-based ones on the server-binding cursor are in the log too)."""
    tenant = TenantFactory()
    make_deployments(tenant, rows)
    with CaptureQueriesContext(connection) as log:
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
    return [query["sql"] for query in log.captured_queries]


def test_one_chunk_costs_the_same_for_5_rows_and_for_60():
    small = _statements(5)
    large = _statements(60)
    assert len(large) == len(small)
    if connection.vendor == "postgresql":
        # The count of matching rows, the chunk's SAVEPOINT, its ONE statement
        # (lock, UPDATE, audit events, feed events, subscriptions and
        # resources following, its commit mode: a WITH of data-modifying
        # clauses), RELEASE, and the final flush (SAVEPOINT, SELECT
        # pg_current_xact_id(), RELEASE).
        assert len(small) == 7, small
        chunk = [sql for sql in small if "FOR UPDATE NOWAIT" in sql]
        assert len(chunk) == 1
        for part in ("UPDATE deployments_deployment", "deployments_deploymentevent", "feed_event"):
            assert part in chunk[0]
        assert chunk[0].count("INSERT INTO") == 2
        assert sum("INSERT INTO" in sql for sql in small) == 1
    else:
        # The count, the chunk's lock (a plain read on SQLite), UPDATE, the
        # audit events (bulk_create in 500s), the feed rows read for their
        # shape and inserted, the subscriptions following, transaction
        # statements around them.
        assert len(small) <= 14
