"""Helpers for the feed tests: recording in a transaction, reading it all."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from feed.cursor import Anchor
from feed.record import record_event
from feed.selectors import read_feed
from feed.waiting import listener


@pytest.fixture(autouse=True)
def _no_listener_left_behind():
    """The long-poll listener holds a connection to the test database: stop it
    after each test (the database is dropped at the end of the session)."""
    yield
    listener().stop()


SOME_TENANT = uuid.UUID("99999999-9999-4999-8999-999999999999")


def record(
    type_: str = "deployment.transitioned",
    *,
    tenant_id: uuid.UUID | None = SOME_TENANT,
    deployment_id: uuid.UUID | None = None,
    **data,
):
    """One event, in its own transaction (None: a platform-wide event)."""
    with transaction.atomic():
        return record_event(
            type=type_,
            tenant_id=tenant_id,
            deployment_id=deployment_id,
            data=data,
        )


def read_all(*, tenant_id=None, after=Anchor.OLDEST, types=None, deployment_id=None, limit=1000):
    """Every event after `after`, following the cursor page by page."""
    events = []
    while True:
        page = read_feed(
            tenant_id=tenant_id, after=after, types=types, deployment_id=deployment_id, limit=limit
        )
        events.extend(page.events)
        after = page.next_position
        if not page.has_more:
            return events
