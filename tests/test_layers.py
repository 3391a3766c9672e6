"""Imports point one way: an app may import the apps below it, never one above.

    arcadia_cloud < feed < webhooks < catalog < subscriptions < deployments < billing < console

(`arcadia_cloud` holds identity, tenancy, scope and the API plumbing every app
uses; the console is the operator UI over all of them.) The registration
modules may import every app: the root URLconf, and each app's admin.py (an
entry point, like a view: its pages show what the apps above know of the
model, e.g. a deployment's statements). No module imports another app's `api/` package or an
`admin.py`, and only API modules use the API plumbing (`arcadia_cloud.api`):
services and selectors know nothing of HTTP.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = [
    "arcadia_cloud",
    "feed",
    "webhooks",
    "catalog",
    "subscriptions",
    "deployments",
    "billing",
    "console",
]
#: Registration modules: they wire the apps together.
REGISTRATION = {"arcadia_cloud/urls.py"}


def _modules():
    for app in LAYERS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            yield app, path.relative_to(ROOT).as_posix(), path


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _is_api(name: str) -> bool:
    return "/api/" in name or name.endswith("urls.py") or name.startswith("arcadia_cloud/")


def test_the_layers_are_known():
    assert [p.name for p in ROOT.iterdir() if (p / "apps.py").exists()] != []
    apps = {p.name for p in ROOT.iterdir() if (p / "apps.py").exists()}
    assert apps == set(LAYERS)


@pytest.mark.parametrize(("app", "name", "path"), list(_modules()), ids=lambda v: str(v))
def test_imports_point_down(app, name, path):
    if name in REGISTRATION:
        return
    upward = []
    for imported in _imports(path):
        top = imported.split(".")[0]
        if top not in LAYERS or top == app:
            continue
        if LAYERS.index(top) > LAYERS.index(app) and not name.endswith("/admin.py"):
            upward.append(imported)
        parts = imported.split(".")
        if parts[0] not in LAYERS or parts[0] == app or len(parts) < 2:
            if parts[0] == "arcadia_cloud" and parts[1:2] == ["api"] and not _is_api(name):
                upward.append(imported)
            continue
        plumbing = parts[0] == "arcadia_cloud" and _is_api(name)
        if parts[1] == "admin" or (parts[1] == "api" and not plumbing):
            upward.append(imported)
    assert upward == [], f"{name} imports upward or into an api/admin module: {upward}"
