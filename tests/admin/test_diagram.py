"""The state diagram is generated from the transitions map and the committed copy
cannot drift from it."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path
from xml.etree import ElementTree

from django.conf import settings
from django.core.management import call_command

from deployments.diagram import svg
from tests.deployments.spec_map import SPEC_MAP, STATES

COMMITTED = Path(settings.BASE_DIR) / "docs" / "transitions.svg"
NS = {"svg": "http://www.w3.org/2000/svg"}


def test_committed_svg_equals_fresh_output():
    assert COMMITTED.read_text(encoding="utf-8") == svg(), (
        "docs/transitions.svg is stale: run "
        "`manage.py render_transitions_svg --output docs/transitions.svg`"
    )


def test_svg_is_well_formed_and_has_every_state_and_move():
    root = ElementTree.fromstring(svg())
    states = {g.get("id") for g in root.iterfind(".//svg:g[@class='state']", NS)}
    assert states == {f"state-{s}" for s in STATES}
    titles = [t.text for t in root.iterfind(".//svg:path/svg:title", NS)]
    moves = {tuple(re.match(r"(\w+) → (\w+):", t).groups()) for t in titles}
    # against the SPEC table typed in by hand, not the map the SVG is drawn from
    assert moves == set(SPEC_MAP)
    assert len(titles) == len(SPEC_MAP)


def test_role_labels_come_from_the_map():
    titles = {
        t.split(":")[0]: t.split(": ")[1]
        for t in re.findall(r"<path [^>]*><title>([^<]*)</title>", svg())
    }
    assert titles["suspended → active"] == "operator"
    assert titles["trial → cancelled"] == "tenant, operator, system"
    assert titles["paused → active"] == "tenant, operator"


def test_command_writes_the_same_document(tmp_path):
    target = tmp_path / "out" / "transitions.svg"
    call_command("render_transitions_svg", "--output", str(target), stdout=StringIO())
    assert target.read_text(encoding="utf-8") == svg()
    out = StringIO()
    call_command("render_transitions_svg", stdout=out)
    assert out.getvalue() == svg()
