"""`migrate <one app>` on an empty database works, and the full migrate after it
sets up the operator groups (their hook waits for the tables it needs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(db: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "SECRET_KEY": "partial-migrate"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_partial_then_full_migrate(tmp_path):
    db = tmp_path / "fresh.sqlite3"
    partial = _manage(db, "migrate", "contenttypes")
    assert partial.returncode == 0, partial.stderr
    full = _manage(db, "migrate")
    assert full.returncode == 0, full.stderr
    groups = _manage(
        db,
        "shell",
        "-c",
        "from django.contrib.auth.models import Group; "
        "print(sorted((g.name, g.permissions.count() > 0) for g in Group.objects.all()))",
    )
    assert groups.returncode == 0, groups.stderr
    assert (
        groups.stdout.strip().splitlines()[-1] == "[('billing operator', True), ('support', True)]"
    )
