"""The billing clock closes every period that ended into its statement, exactly once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from arcadia_cloud.actors import Actor
from billing.clock import run_billing_cycle
from billing.models import Statement
from deployments.services import create_subscription
from deployments.transitions import transition_state
from subscriptions.models import Subscription
from subscriptions.services import attach_addon, detach_addon
from tests.factories import SYSTEM_ACTOR, make_deployment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded")]

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
APR = datetime(2026, 4, 1, tzinfo=UTC)
JAN_SECONDS = 31 * 86400
OPERATOR = Actor(kind="operator", label="ops@arcadia.example")


def subscribed(tenant, *, plan="studio", addons=(), at=JAN, slug=None):
    deployment = make_deployment(tenant, slug=slug, at=at)
    create_subscription(
        deployment_id=deployment.pk,
        plan_code=plan,
        addon_codes=list(addons),
        actor=SYSTEM_ACTOR,
        at=at,
    )
    return deployment, Subscription.objects.get(deployment=deployment)


def clock(as_of: datetime, *args: str) -> dict[str, str]:
    out = StringIO()
    call_command(
        "run_billing_cycle", f"--as-of={as_of.isoformat()}", *args, stdout=out, stderr=StringIO()
    )
    summary = {}
    for line in out.getvalue().splitlines():
        if ": " in line:
            key, value = line.strip().split(": ", 1)
            summary[key] = value
    return summary


def test_a_whole_untouched_month_bills_exactly_plan_and_addons(tenant):
    deployment, subscription = subscribed(tenant, addons=["storage_50gb"])
    summary = clock(FEB)
    assert summary["periods closed"] == "1"
    statement = Statement.objects.get()
    price = subscription.plan_version.price_cents
    assert (statement.period_start, statement.period_end) == (date(2026, 1, 1), date(2026, 2, 1))
    assert statement.total_cents == price + 750
    assert [line["amount_cents"] for line in statement.lines] == [price, 750]
    assert statement.deployment_id == deployment.pk
    subscription.refresh_from_db()
    assert (subscription.current_period_start, subscription.current_period_end) == (
        date(2026, 2, 1),
        date(2026, 3, 1),
    )


def test_three_missed_months_close_in_order_and_a_second_run_writes_nothing(tenant):
    subscribed(tenant)
    assert clock(APR)["periods closed"] == "3"
    assert list(Statement.objects.order_by("id").values_list("period_start", flat=True)) == [
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]
    assert clock(APR)["periods closed"] == "0"
    assert Statement.objects.count() == 3


def test_a_mid_month_pause_is_not_billed_and_pieces_sum_exactly(tenant):
    deployment, subscription = subscribed(tenant)
    transition_state(
        deployment_id=deployment.pk,
        to_state="paused",
        actor=OPERATOR,
        at=datetime(2026, 1, 11, tzinfo=UTC),
    )
    transition_state(
        deployment_id=deployment.pk,
        to_state="active",
        actor=OPERATOR,
        at=datetime(2026, 1, 21, tzinfo=UTC),
    )
    clock(FEB)
    statement = Statement.objects.get()
    price = subscription.plan_version.price_cents
    assert len(statement.lines) == 2
    billed = 21 * 86400
    exact = price * billed / JAN_SECONDS
    assert abs(statement.total_cents - exact) <= 0.5
    assert sum(line["amount_cents"] for line in statement.lines) == statement.total_cents


def test_a_cancelled_deployment_gets_a_final_statement_and_no_more(tenant):
    deployment, subscription = subscribed(tenant)
    transition_state(
        deployment_id=deployment.pk,
        to_state="cancelled",
        actor=OPERATOR,
        at=datetime(2026, 2, 15, tzinfo=UTC),
    )
    clock(APR)
    assert list(Statement.objects.order_by("id").values_list("period_start", flat=True)) == [
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]
    subscription.refresh_from_db()
    assert subscription.billing_ended_at is not None
    assert clock(datetime(2026, 6, 1, tzinfo=UTC))["periods closed"] == "0"


def test_a_detached_addon_is_billed_up_to_its_detach(tenant):
    _, subscription = subscribed(tenant)
    line = attach_addon(subscription=subscription, addon_code="storage_50gb", actor=SYSTEM_ACTOR)
    # attached "now" in the test: put it back to the start of January for the story
    type(line).objects.filter(pk=line.pk).update(attached_at=JAN)
    detach_addon(
        subscription=subscription,
        line_id=line.pk,
        actor=SYSTEM_ACTOR,
        at=datetime(2026, 1, 16, 12, tzinfo=UTC),
    )
    clock(FEB)
    addon_lines = [ln for ln in Statement.objects.get().lines if ln["kind"] == "addon"]
    assert [ln["addon_line_id"] for ln in addon_lines] == [line.pk]
    seconds = (15 * 86400) + 12 * 3600
    assert addon_lines[0]["amount_cents"] == round(750 * seconds / JAN_SECONDS)


def test_dry_run_writes_nothing(tenant):
    subscribed(tenant)
    summary = clock(FEB, "--dry-run")
    assert summary["would close"] == "1"
    assert not Statement.objects.exists()
    assert Subscription.objects.get().current_period_start == date(2026, 1, 1)


def test_as_of_in_the_future_needs_allow_future(tenant):
    with pytest.raises(CommandError, match="allow-future"):
        clock(datetime(2999, 1, 1, tzinfo=UTC))


def test_the_service_reports_what_it_closed(tenant):
    subscribed(tenant)
    subscribed(tenant)
    result = run_billing_cycle(as_of=MAR, batch_size=1)
    assert (result.seen, result.periods_closed, result.failed) == (2, 4, 0)
