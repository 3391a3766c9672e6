"""`manage.py export_statements`: every statement of a period, one record per
line, as CSV or JSON Lines, to a file or to standard output."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.export import FIELDS
from billing.models import Statement
from deployments.transitions import transition_state
from tests.billing.test_clock import FEB, JAN, MAR, OPERATOR, clock, subscribed
from tests.factories import TenantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded")]


def export(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("export_statements", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def january(tenant):
    """Three subscriptions of two tenants, closed for January (and February) by the
    clock: one with an add-on, one of another tenant, one paused all January."""
    with_addon, _ = subscribed(tenant, addons=["storage_50gb"], slug="shop")
    other, _ = subscribed(TenantFactory(slug="globex"), slug="blog")
    paused, _ = subscribed(tenant, slug="idle")
    transition_state(deployment_id=paused.pk, to_state="paused", actor=OPERATOR, at=JAN)
    clock(MAR)
    return with_addon, other, paused


def expected_january() -> list[dict]:
    """The records, written out from the stored statements field by field."""
    records = []
    for statement in Statement.objects.filter(period_start="2026-01-01").order_by("id"):
        head = {
            "statement_id": statement.id,
            "subscription_id": statement.subscription_id,
            "deployment_id": str(statement.deployment_id),
            "period_start": "2026-01-01",
            "period_end": "2026-02-01",
            "currency": "USD",
            "total_cents": statement.total_cents,
            "closed_at": statement.closed_at.isoformat().replace("+00:00", "Z"),
        }
        if not statement.lines:
            records.append(
                head
                | dict.fromkeys(
                    (
                        "line",
                        "kind",
                        "code",
                        "description",
                        "plan_version",
                        "addon_line_id",
                        "unit_price_cents",
                        "starts_at",
                        "ends_at",
                        "amount_cents",
                    )
                )
            )
        for number, line in enumerate(statement.lines, 1):
            records.append(
                head
                | {
                    "line": number,
                    "kind": line["kind"],
                    "code": line["code"],
                    "description": line["description"],
                    "plan_version": line.get("plan_version"),
                    "addon_line_id": line.get("addon_line_id"),
                    "unit_price_cents": line["unit_price_cents"],
                    "starts_at": line["starts_at"],
                    "ends_at": line["ends_at"],
                    "amount_cents": line["amount_cents"],
                }
            )
    return records


def test_jsonl_has_one_record_per_line_of_every_statement_of_the_period(january):
    with_addon, other, paused = january
    out, err = export("--period=2026-01", "--format=jsonl")
    records = [json.loads(text) for text in out.splitlines()]
    assert records == expected_january()
    # every tenant's statements, January's only, in statement order
    assert [r["deployment_id"] for r in records] == [
        str(with_addon.pk),
        str(with_addon.pk),
        str(other.pk),
        str(paused.pk),
    ]
    plan, addon, _, idle = records
    price = Statement.objects.get(deployment=other, period_start=JAN.date()).total_cents
    assert {k: plan[k] for k in ("kind", "code", "plan_version", "addon_line_id")} == {
        "kind": "plan",
        "code": "studio",
        "plan_version": 1,
        "addon_line_id": None,
    }
    assert (plan["amount_cents"], plan["unit_price_cents"]) == (price, price)
    assert (plan["starts_at"], plan["ends_at"]) == ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")
    assert (addon["kind"], addon["code"], addon["amount_cents"]) == ("addon", "storage_50gb", 750)
    assert addon["total_cents"] == plan["total_cents"] == price + 750
    # a month spent paused: the statement is there, with no line
    assert (idle["total_cents"], idle["line"], idle["kind"], idle["amount_cents"]) == (
        0,
        None,
        None,
        None,
    )
    assert "exported 4 records of 2026-01 (jsonl)" in err


def test_csv_has_a_header_and_the_same_records_as_text(january):
    out, _ = export("--period=2026-01")  # csv is the default
    assert out.startswith(",".join(FIELDS) + "\r\n")
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    as_text = [
        {k: "" if v is None else str(v) for k, v in record.items()} for record in expected_january()
    ]
    assert rows == as_text
    assert out.count("\r\n") == 1 + len(as_text)


def test_another_period_has_its_own_statements_and_an_empty_one_only_the_header(january):
    out, _ = export("--period=2026-02", "--format=jsonl")
    assert {json.loads(t)["period_start"] for t in out.splitlines()} == {"2026-02-01"}
    assert len(out.splitlines()) == 4
    out, err = export("--period=2025-12", "--format=csv")
    assert out == ",".join(FIELDS) + "\r\n"
    assert "exported 0 records" in err
    out, _ = export("--period=2025-12", "--format=jsonl")
    assert out == ""


def test_output_to_a_file_is_the_same_as_to_stdout(january, tmp_path):
    for fmt in ("csv", "jsonl"):
        path = tmp_path / f"statements.{fmt}"
        out, _ = export("--period=2026-01", f"--format={fmt}", f"--output={path}")
        assert out == ""
        stdout, _ = export("--period=2026-01", f"--format={fmt}", "--output=-")
        assert path.read_bytes().decode() == stdout
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_existing_file_is_replaced_whole(january, tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("old content\n" * 100)
    export("--period=2026-01", "--format=jsonl", f"--output={path}")
    assert "old content" not in path.read_text()
    assert len(path.read_text().splitlines()) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period=2026-13"], "--period: '2026-13' is not a period: use YYYY-MM"),
        (["--period=2026-1"], "not a period"),
        (["--period=Jan 2026"], "not a period"),
        (["--period=2026-01-01"], "not a period"),
        (["--period=0000-01"], "not a period"),
        (["--period=2026-01", "--format=xml"], "--format: 'xml' is not one of csv, jsonl"),
        (["--period=2026-01", "--chunk-size=0"], "--chunk-size"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_written(january, tmp_path, args, message):
    path = tmp_path / "out.csv"
    out = StringIO()
    with pytest.raises(CommandError, match=message):
        call_command("export_statements", *args, f"--output={path}", stdout=out)
    assert out.getvalue() == ""
    assert list(tmp_path.iterdir()) == []


def test_an_output_in_a_missing_directory_is_refused(january, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        export("--period=2026-01", f"--output={tmp_path / 'nowhere' / 'out.csv'}")
    with pytest.raises(CommandError, match="is a directory"):
        export("--period=2026-01", f"--output={tmp_path}")


def test_a_failed_export_leaves_no_file_behind(january, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        yield {name: 1 for name in FIELDS}
        raise RuntimeError("the database went away")

    monkeypatch.setattr("billing.export.records", broken)
    path = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        export("--period=2026-01", f"--output={path}")
    assert list(tmp_path.iterdir()) == []


def test_small_chunks_give_the_same_export(january):
    assert export("--period=2026-01", "--chunk-size=1")[0] == export("--period=2026-01")[0]


def test_the_period_is_required():
    with pytest.raises(CommandError, match="--period"):
        call_command("export_statements", stdout=StringIO(), stderr=StringIO())


def test_a_subscription_started_mid_month_is_exported_with_its_part(tenant):
    subscribed(tenant, at=datetime(2026, 1, 16, tzinfo=UTC))
    clock(FEB)
    [record] = [json.loads(t) for t in export("--period=2026-01", "--format=jsonl")[0].splitlines()]
    assert record["starts_at"] == "2026-01-16T00:00:00Z"
    assert record["amount_cents"] == Statement.objects.get().total_cents
