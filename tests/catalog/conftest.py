"""Fixtures for catalog tests: the demo catalog, loaded through its command."""

from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.fixture
def seeded(db):
    call_command("seed_catalog", verbosity=0)
