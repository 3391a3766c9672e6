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
    # The candidate ids, the chunk's transaction statements, the lock, the
    # UPDATE, the audit events (COPY), the feed events (one INSERT ... SELECT),
    # the commit-mode statements around the run; on SQLite the events go
    # through bulk_create (in 500s) and the feed rows are read for their shape.
    assert len(large) == len(small)
    assert len(small) <= 14
    if connection.vendor == "postgresql":
        assert sum("COPY" in sql for sql in small) == 1
        assert sum("INSERT INTO" in sql and "feed_event" in sql for sql in small) == 1
