"""`migrate_plan_version`: every subscriber of a version moved (or scheduled)
through the plan-change rules, one PlanChange and one event each, once, also
with two runners at once."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from arcadia_cloud.actors import Actor
from catalog.models import Plan
from catalog.services import create_plan_version, publish_plan_version
from deployments.resources import create_resource, delete_resource
from deployments.services import create_subscription
from deployments.transitions import transition_state
from feed.models import Event
from subscriptions.models import PendingChange, PlanChange, Subscription
from subscriptions.selectors import get_subscription_for_deployment
from subscriptions.shapes import render_subscription
from tests.batch.test_concurrent_runs import _database_url
from tests.conftest import requires_postgres
from tests.factories import SYSTEM_ACTOR, make_deployment
from tests.feed.conftest import read_all

pytestmark = pytest.mark.usefixtures("seeded")
ROOT = Path(__file__).resolve().parents[2]
OPERATOR = Actor(kind="operator", label="ops@arcadia.example")


def _v2(price=5900, currency="USD"):
    return publish_plan_version(
        plan_version=create_plan_version(
            plan=Plan.objects.get(code="studio"), price_cents=price, currency=currency
        )
    )


def _subscribers(tenant, n, plan="studio", addons=()):
    deployments = [make_deployment(tenant, slug=f"sub-{i}") for i in range(n)]
    for deployment in deployments:
        create_subscription(
            deployment_id=deployment.pk,
            plan_code=plan,
            addon_codes=list(addons),
            actor=SYSTEM_ACTOR,
        )
    return deployments


def run(*args: str) -> dict[str, str]:
    out = StringIO()
    call_command("migrate_plan_version", *args, stdout=out, stderr=StringIO())
    summary = {}
    for line in out.getvalue().splitlines():
        if ": " in line and not line.startswith("would move subscription"):
            key, value = line.strip().split(": ", 1)
            summary[key] = value
    summary["_out"] = out.getvalue()
    return summary


@pytest.mark.django_db
def test_every_subscriber_moves_once_with_a_plan_change_and_an_event_each(tenant):
    deployments = _subscribers(tenant, 5, addons=["storage_50gb"])
    transition_state(deployment_id=deployments[0].pk, to_state="cancelled", actor=OPERATOR)
    v2 = _v2()
    summary = run("--plan=studio", "--from-version=1", "--to-version=2", "--batch-size=2")
    assert (summary["matched"], summary["moved"], summary["cancelled"]) == ("5", "4", "1")
    moved = Subscription.objects.filter(plan_version=v2)
    assert moved.count() == 4
    assert PlanChange.objects.count() == 4
    assert set(PlanChange.objects.values_list("to_version_id", flat=True)) == {v2.pk}
    # the cancelled subscription kept its terms
    assert Subscription.objects.get(deployment=deployments[0]).plan_version.version == 1
    # one event each, whose subscription is the subscription after the move
    events = [e for e in read_all() if e.type == "subscription.plan_changed"]
    assert len(events) == 4
    for event in events:
        after = render_subscription(get_subscription_for_deployment(event.deployment_id))
        assert event.data["subscription"] == after
        assert event.data["to_version"]["plan_version"] == 2
        assert event.data["actor"] == "system:migrate_plan_version"
    # a second run finds nothing left to move
    assert run("--plan=studio", "--from-version=1", "--to-version=2")["moved"] == "0"


@pytest.mark.django_db
def test_dry_run_lists_and_writes_nothing(tenant):
    _subscribers(tenant, 2)
    _v2()
    summary = run("--plan=studio", "--from-version=1", "--to-version=2", "--dry-run")
    assert summary["would move"] == "2"
    assert summary["_out"].count("would move subscription") == 2
    assert not PlanChange.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--to-version=1",), "plan_version_unchanged"),
        (("--to-version=9",), "plan_or_version_not_found"),
        (("--to-version=2",), "currency_mismatch"),
    ],
)
def test_runs_the_plan_change_rules_forbid_are_refused_before_anything_moves(tenant, args, message):
    _subscribers(tenant, 1)
    _v2(currency="EUR")
    with pytest.raises(CommandError, match=message):
        run("--plan=studio", "--from-version=1", *args)
    assert not PlanChange.objects.exists()


@pytest.mark.django_db
def test_at_period_end_schedules_the_change(tenant):
    _subscribers(tenant, 3)
    _v2()
    summary = run("--plan=studio", "--from-version=1", "--to-version=2", "--effective=period_end")
    assert summary["scheduled"] == "3"
    assert PendingChange.objects.filter(kind="change_plan", target_version__version=2).count() == 3
    assert not PlanChange.objects.exists()
    assert Event.objects.filter(type="subscription.change_scheduled").count() == 3


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_runners_at_once_move_each_subscription_once(tenant):
    _subscribers(tenant, 120)
    v2 = _v2()

    def start():
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "test-runner",
            "CI": "1",
        }
        return subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "migrate_plan_version",
                "--plan=studio",
                "--from-version=1",
                "--to-version=2",
                "--batch-size=5",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    runners = [start(), start()]
    outputs = [runner.communicate(timeout=300) for runner in runners]
    assert [runner.returncode for runner in runners] == [0, 0], outputs
    assert Subscription.objects.filter(plan_version=v2).count() == 120
    per_subscription = PlanChange.objects.values("subscription").annotate(n=Count("id"))
    assert {row["n"] for row in per_subscription} == {1}
    assert per_subscription.count() == 120
    moved = [
        int(line.split(": ")[1])
        for out, _ in outputs
        for line in out.splitlines()
        if line.startswith("moved: ")
    ]
    assert sum(moved) == 120


@pytest.mark.django_db
def test_a_subscriber_over_the_new_versions_limits_stays_and_is_counted(tenant):
    # three subscribers; one runs a resource the new version has no room for,
    # one a deleted resource (which counts against nothing)
    deployments = _subscribers(tenant, 3)
    v1 = Plan.objects.get(code="studio").versions.get(version=1)
    kind = sorted(kind for kind, limit in v1.included_quotas.items() if limit > 0)[0]
    create_resource(deployment_id=deployments[0].pk, kind=kind, name="r", qty=1, actor=OPERATOR)
    gone = create_resource(
        deployment_id=deployments[1].pk, kind=kind, name="g", qty=1, actor=OPERATOR
    )
    delete_resource(resource_id=gone.pk, actor=OPERATOR)
    quotas = {k: 0 for k in v1.included_quotas}
    v2 = publish_plan_version(
        plan_version=create_plan_version(
            plan=v1.plan, price_cents=v1.price_cents, currency=v1.currency, included_quotas=quotas
        )
    )
    summary = run("--plan=studio", "--from-version=1", "--to-version=2")
    assert summary["moved"] == "2"
    assert summary["resources in use over the new version's limits"] == "1"
    stayed = Subscription.objects.get(deployment=deployments[0])
    assert stayed.plan_version_id == v1.pk
    assert set(
        Subscription.objects.exclude(pk=stayed.pk).values_list("plan_version_id", flat=True)
    ) == {v2.pk}
    assert not PlanChange.objects.filter(subscription=stayed).exists()
