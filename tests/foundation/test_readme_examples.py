"""The README's API examples work verbatim after `make run`.

The server is started exactly as `make run` starts it (`bin/run-local`:
migrate, load the demo data, runserver, embedded SQLite), in a scratch
directory and on a free test port; then the `sh` blocks of the README's API
section run in order, in one shell, unchanged but for the port. Each answer is
checked, and the admin-only example must see more than one tenant.

Marker `readme`; in CI (CI=true) a missing `curl` fails the test instead of
skipping it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests import live

pytestmark = pytest.mark.readme

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DEFAULT_URL = "http://127.0.0.1:8000"


#: The README sections whose `sh` blocks run, in this order, in one shell.
SECTIONS = ("## The API at a glance", "## Resources and entitlements", "## Billing")


def api_blocks() -> list[str]:
    blocks = []
    for heading in SECTIONS:
        section = README.read_text().split(heading, 1)[1].split("\n## ", 1)[0]
        blocks.extend(re.findall(r"```sh\n(.*?)```", section, re.S))
    return blocks


def answers(output: str) -> list[dict | str]:
    """The shell's output as JSON documents (curl prints no newline after a
    body, so they may share a line) and plain text lines."""
    decoder = json.JSONDecoder()
    found: list[dict | str] = []
    position = 0
    while position < len(output):
        if output[position].isspace():
            position += 1
        elif output[position] in "{[":
            value, position = decoder.raw_decode(output, position)
            found.append(value)
        else:
            end = output.find("\n", position)
            end = len(output) if end == -1 else end
            found.append(output[position:end])
            position = end
    return found


@pytest.fixture(scope="module")
def curl() -> str:
    found = shutil.which("curl")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the README's examples: curl is missing")
        pytest.skip("curl is not installed")
    return found


@pytest.fixture(scope="module")
def make_run(tmp_path_factory):
    """`bin/run-local` (what `make run` runs) on a fresh SQLite file."""
    workdir = tmp_path_factory.mktemp("make-run")
    port = live.free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "ARCADIA_RUN_DIR": str(workdir / ".run"),
        "SECRET_KEY": "readme-" + uuid.uuid4().hex,
    }
    env.pop("DEBUG", None)
    with (workdir / "server.log").open("w") as log:
        proc = subprocess.Popen(
            [str(ROOT / "bin" / "run-local"), "127.0.0.1", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            live.wait_until_up(port, proc, timeout=300)
            yield port, workdir
        finally:
            live.stop(proc)


def test_the_api_section_has_runnable_examples():
    blocks = api_blocks()
    assert len(blocks) >= 2
    script = "\n".join(blocks)
    assert DEFAULT_URL in script
    assert "../shared" not in README.read_text()


def test_the_readme_api_examples_run_verbatim_after_make_run(curl, make_run):
    port, workdir = make_run
    script = "\n".join(api_blocks()).replace(DEFAULT_URL, f"http://127.0.0.1:{port}")
    # The README says: from the repository, where `make run` wrote .run/.
    done = subprocess.run(
        ["sh", "-eu", "-c", script],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": f"{Path(curl).parent}:{os.environ.get('PATH', '')}"},
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    steps = answers(done.stdout)
    me, created, subscribed, moved, events, listed, *resource_steps = steps
    assert me["email"] == "owner@acme.example"
    assert created.startswith("created ")
    deployment_id = created.removeprefix("created ")
    assert subscribed["subscription"]["plan_code"] == "studio"
    assert [a["code"] for a in subscribed["subscription"]["addons"]] == ["storage_50gb"]
    assert (moved["deployment"]["id"], moved["deployment"]["state"]) == (deployment_id, "paused")
    assert [e["to_state"] for e in events["events"]] == ["active", "paused"]
    assert listed["count"] >= 2
    assert {d["state"] for d in listed["deployments"]} == {"past_due"}
    assert len({d["tenant_id"] for d in listed["deployments"]}) > 1
    entitlements, refused, pending, reported, held, statements, upcoming = resource_steps
    assert {
        "resource_kind": "storage_gb",
        "included": 100,
        "addons": 50,
        "limit": 150,
        "used": 0,
    } in entitlements["entitlements"]
    assert refused == {
        "error": "quota_exceeded",
        "resource_kind": "storage_gb",
        "limit": 150,
        "used": 120,
        "requested": 40,
    }
    [waiting] = pending["resources"]
    assert (waiting["name"], waiting["generation"], waiting["observed_generation"]) == (
        "uploads",
        1,
        0,
    )
    assert reported["resource"]["observed_state"] == "running"
    assert reported["resource"]["pending"] is False
    resource = held["resource"]
    assert (resource["desired_state"], resource["held"], resource["generation"]) == (
        "stopped",
        True,
        2,
    )
    # Billing: no closed period yet, and the open period's preview
    assert statements == {"statements": [], "next": None, "previous": None}
    preview = upcoming["statement"]
    this_month = datetime.now(UTC).date().replace(day=1)
    assert (preview["id"], preview["closed_at"]) == (None, None)
    assert preview["period_start"] == this_month.isoformat()
    assert preview["currency"] == "USD"
    assert preview["total_cents"] == sum(line["amount_cents"] for line in preview["lines"])
    assert {line["code"] for line in preview["lines"]} <= {"studio", "storage_50gb"}
    for step in steps:
        assert step is refused or not (isinstance(step, dict) and "error" in step), step


def test_no_product_doc_points_outside_the_repository(client):
    documents = {
        str(path): path.read_text()
        for path in [README, *sorted((ROOT / "docs").rglob("*"))]
        if path.is_file() and path.suffix in {".md", ".svg", ".txt", ".html"}
    }
    documents["/api/v1/schema"] = client.get("/api/v1/schema").content.decode()
    for name, text in documents.items():
        assert "../shared" not in text, name
        assert "SPEC.md" not in text, name
