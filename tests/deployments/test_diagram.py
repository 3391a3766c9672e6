"""The lifecycle diagram and table are generated from the map, match SPEC, and the
README embeds exactly the current output."""

from __future__ import annotations

import io
import re
from pathlib import Path

from django.core.management import call_command

from deployments.diagram import markdown_table, mermaid
from tests.deployments.spec_map import SPEC_MAP, STATES

README = Path(__file__).resolve().parents[2] / "README.md"
EDGE = re.compile(r"^    (\w+) --> (\w+): (.+)$")


def _between(text: str, name: str) -> str:
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    assert text.count(start) == 1, f"README needs exactly one {start.strip()}"
    assert text.count(end) == 1, f"README needs exactly one {end}"
    return text.split(start, 1)[1].split(end, 1)[0]


def test_mermaid_edges_are_the_spec_map():
    text = mermaid()
    lines = text.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert "    [*] --> active" in lines
    assert "    archived --> [*]" in lines
    edges = {}
    for line in lines:
        match = EDGE.match(line)
        if match:
            edges[(match[1], match[2])] = frozenset(match[3].split(", "))
    assert edges == SPEC_MAP


def test_table_rows_are_the_spec_map():
    cells = {}
    terminal = []
    for line in markdown_table().splitlines()[2:]:
        from_state, targets, who = (c.strip() for c in line.strip("|").split("|"))
        if targets.startswith("—"):
            terminal.append(from_state)
            continue
        for to_state in targets.split(", "):
            assert (from_state, to_state) not in cells
            cells[(from_state, to_state)] = frozenset(who.split(", "))
    assert cells == SPEC_MAP
    assert terminal == [s for s in STATES if not any(f == s for f, _ in SPEC_MAP)]


def test_readme_embeds_the_current_diagram():
    block = _between(README.read_text(), "transitions")
    assert block == f"```mermaid\n{mermaid()}```\n", (
        "README lifecycle diagram is stale: paste `manage.py transitions_diagram` output"
    )


def test_readme_embeds_the_current_table():
    block = _between(README.read_text(), "transitions-table")
    assert block == markdown_table(), (
        "README lifecycle table is stale: paste `manage.py transitions_diagram --format table`"
    )


def test_command_prints_the_diagram():
    out = io.StringIO()
    call_command("transitions_diagram", stdout=out)
    assert out.getvalue() == mermaid()
    out = io.StringIO()
    call_command("transitions_diagram", "--format", "mermaid", stdout=out)
    assert out.getvalue() == mermaid()
    out = io.StringIO()
    call_command("transitions_diagram", "--format", "table", stdout=out)
    assert out.getvalue() == markdown_table()
