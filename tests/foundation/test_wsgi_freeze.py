"""The WSGI module loads every view and freezes what the process starts with
(`arcadia_cloud.wsgi`), so the collector's full passes stay short."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, json, sys, time
before = len(gc.get_objects())
import arcadia_cloud.wsgi
started = time.perf_counter()
gc.collect()
print(json.dumps({
    "frozen": gc.get_freeze_count(),
    "tracked": len(gc.get_objects()),
    "views_loaded": "deployments.api.views" in sys.modules,
    "full_pass_ms": (time.perf_counter() - started) * 1000,
}))
"""


def test_the_wsgi_module_freezes_the_loaded_application():
    env = {**os.environ, "SECRET_KEY": "x", "DJANGO_SETTINGS_MODULE": "arcadia_cloud.settings"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    probe = json.loads(out.strip().splitlines()[-1])
    assert probe["views_loaded"]
    assert probe["frozen"] > 50_000
    # what the collector still walks: a small fraction of what was loaded
    assert probe["tracked"] < probe["frozen"] // 10, probe
