"""manage.py transition_deployments: options, summary, the map, events, idempotence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError
from django.utils import timezone

from deployments import batch
from deployments.models import Deployment, DeploymentEvent
from deployments.services import create_subscription
from deployments.transitions import TRANSITIONS
from subscriptions.models import Subscription
from tests.batch.conftest import batch_events, events_refused_for, make_deployments, run
from tests.conftest import requires_postgres
from tests.factories import SYSTEM_ACTOR

pytestmark = pytest.mark.django_db

DUNNING = ["--from=past_due", "--to=suspended", "--reason=unpaid for 30 days"]


def states(deployments) -> set[str]:
    return set(
        Deployment.objects.filter(pk__in=[d.pk for d in deployments]).values_list(
            "state", flat=True
        )
    )


def test_moves_every_match_with_one_event_each_and_prints_summary(acme):
    # given 25 past_due deployments and 3 active ones
    due = make_deployments(acme, 25)
    active = make_deployments(acme, 3, state="active")
    before = timezone.now()
    # when the dunning batch runs in chunks of 10
    summary = run(*DUNNING, "--batch-size=10")
    # then every past_due one is suspended, each with exactly one event
    assert summary["matched"] == "25"
    assert summary["moved"] == "25"
    assert summary["skipped"] == "0"
    assert summary["failed"] == "0"
    assert states(due) == {"suspended"}
    assert states(active) == {"active"}
    events = list(batch_events())
    assert sorted(e.deployment_id for e in events) == sorted(d.pk for d in due)
    for event in events:
        assert event.from_state == "past_due"
        assert event.actor == "system:transition_deployments"
        assert event.reason == "unpaid for 30 days"
        assert event.occurred_at >= before
    # state_since is the moment of the move, the same instant as its event
    since = dict(Deployment.objects.filter(state="suspended").values_list("pk", "state_since"))
    assert all(since[e.deployment_id] == e.occurred_at for e in events)


def test_actor_option_is_recorded(acme):
    make_deployments(acme, 2)
    run(*DUNNING, "--actor=billing-cron@eu-1")
    assert set(batch_events().values_list("actor", flat=True)) == {"billing-cron@eu-1"}


def test_second_run_moves_nothing(acme):
    make_deployments(acme, 12)
    first = run(*DUNNING, "--batch-size=5")
    second = run(*DUNNING, "--batch-size=5")
    assert first["moved"] == "12"
    assert second["matched"] == "0"
    assert second["moved"] == "0"
    assert batch_events().count() == 12


def test_dry_run_lists_and_writes_nothing(acme):
    due = make_deployments(acme, 3)
    overridden = make_deployments(acme, 1, billing_action_suspended=True)
    summary = run(*DUNNING, "--dry-run")
    assert summary["matched"] == "4"
    assert summary["would move"] == "3"
    assert summary["overridden (billing actions suspended)"] == "1"
    listed = [line for line in summary["_out"].splitlines() if line.startswith("would move ")]
    assert len(listed) == 3
    assert all(str(d.pk) in summary["_out"] for d in due)
    assert str(overridden[0].pk) not in summary["_out"]
    assert "acme/" in listed[0]
    assert states(due + overridden) == {"past_due"}
    assert not batch_events().exists()


def test_overridden_are_skipped_and_counted(acme):
    normal = make_deployments(acme, 4)
    overridden = make_deployments(acme, 2, billing_action_suspended=True)
    summary = run(*DUNNING)
    assert summary["moved"] == "4"
    assert summary["skipped"] == "2"
    assert summary["overridden (billing actions suspended)"] == "2"
    assert states(normal) == {"suspended"}
    assert states(overridden) == {"past_due"}
    assert batch_events().count() == 4


def test_include_overridden_moves_them_too(acme):
    overridden = make_deployments(acme, 2, billing_action_suspended=True)
    summary = run(*DUNNING, "--include-overridden")
    assert summary["moved"] == "2"
    assert states(overridden) == {"suspended"}
    assert batch_events().count() == 2


def test_in_state_for_only_moves_old_enough(acme):
    old = make_deployments(acme, 3, age_days=20)
    recent = make_deployments(acme, 2, age_days=3)
    summary = run(*DUNNING, "--in-state-for=14d")
    assert summary["matched"] == "3"
    assert states(old) == {"suspended"}
    assert states(recent) == {"past_due"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14d", timedelta(days=14)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_durations(text, expected):
    assert batch.parse_duration(text) == expected


@pytest.mark.parametrize(
    "bad", ["14", "d", "-3d", "1.5h", "14 days", "", "36601d", "999999d", "9999999999d"]
)
def test_bad_duration_is_refused_before_anything_moves(acme, bad):
    make_deployments(acme, 1)
    with pytest.raises(CommandError, match="in-state-for"):
        run(*DUNNING, f"--in-state-for={bad}")
    assert not batch_events().exists()


def test_ids_file_restricts_to_listed_ids(acme, tmp_path):
    due = make_deployments(acme, 5)
    active = make_deployments(acme, 1, state="active")
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(
        f"# dunning list\n{due[0].pk}\n\n{due[3].pk}  # late payer\n{active[0].pk}\n"
    )
    summary = run(*DUNNING, f"--ids-file={ids_file}")
    assert summary["matched"] == "2"
    assert summary["moved"] == "2"
    assert states([due[0], due[3]]) == {"suspended"}
    assert states([due[1], due[2], due[4]]) == {"past_due"}
    assert states(active) == {"active"}


def test_ids_file_with_garbage_is_refused(acme, tmp_path):
    due = make_deployments(acme, 1)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(f"{due[0].pk}\nnot-a-uuid\n")
    with pytest.raises(CommandError, match="line 2"):
        run(*DUNNING, f"--ids-file={ids_file}")
    assert states(due) == {"past_due"}


def test_missing_ids_file_is_refused(acme, tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run(*DUNNING, f"--ids-file={tmp_path / 'nope.txt'}")


def test_tenant_filter(acme, globex):
    ours = make_deployments(acme, 2)
    theirs = make_deployments(globex, 2)
    summary = run(*DUNNING, "--tenant=globex")
    assert summary["moved"] == "2"
    assert states(theirs) == {"suspended"}
    assert states(ours) == {"past_due"}


def test_region_filter(acme):
    east = make_deployments(acme, 2, region="us-east-1")
    west = make_deployments(acme, 2, region="eu-west-1")
    summary = run(*DUNNING, "--region=eu-west-1")
    assert summary["moved"] == "2"
    assert states(west) == {"suspended"}
    assert states(east) == {"past_due"}


def test_unknown_tenant_or_region_is_refused(acme):
    make_deployments(acme, 1)
    with pytest.raises(CommandError, match="Unknown tenant"):
        run(*DUNNING, "--tenant=nobody")
    with pytest.raises(CommandError, match="Unknown region"):
        run(*DUNNING, "--region=mars-1")
    assert not batch_events().exists()


@pytest.mark.parametrize(
    ("from_state", "to_state"),
    [
        ("active", "paused"),  # tenant/operator only
        ("suspended", "active"),  # operator only
        ("past_due", "cancelled"),  # tenant/operator only
        ("archived", "active"),  # terminal
        ("past_due", "past_due"),  # same state
        ("cancelled", "active"),  # not in the map at all
    ],
)
def test_moves_the_map_refuses_to_system_exit_non_zero_untouched(acme, from_state, to_state):
    deployments = make_deployments(acme, 2, state=from_state)
    with pytest.raises(CommandError, match="transitions map"):
        run(f"--from={from_state}", f"--to={to_state}", "--reason=try")
    assert states(deployments) == {from_state}
    assert not DeploymentEvent.objects.exists()


def test_cleanup_cancelled_to_archived_is_allowed(acme):
    cancelled = make_deployments(acme, 3, state="cancelled")
    summary = run("--from=cancelled", "--to=archived", "--reason=retention")
    assert summary["moved"] == "3"
    assert states(cancelled) == {"archived"}


def test_unknown_state_is_a_usage_error():
    with pytest.raises(CommandError, match="invalid choice: 'frozen'"):
        run("--from=past_due", "--to=frozen", "--reason=x")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reason=  "], "--reason must not be blank"),
        (["--reason=x", "--batch-size=0"], "--batch-size must be between"),
        (["--reason=x", "--workers=0"], "--workers must be between"),
        ([f"--reason={'r' * 501}"], "--reason: Ensure this field has no more than 500"),
        (["--reason=x", f"--actor={'a' * 255}"], "--actor: Ensure this field has no more than 254"),
        (["--reason=x", "--workers=9"], "--workers must be between"),
    ],
)
def test_blank_reason_and_bad_batch_size_are_refused(acme, args, message):
    make_deployments(acme, 1)
    with pytest.raises(CommandError, match=message):
        run("--from=past_due", "--to=suspended", *args)
    assert not batch_events().exists()


def test_row_the_map_refuses_is_skipped_not_moved(acme, globex, monkeypatch):
    # A permission whose row conditions refuse another tenant's rows: the
    # batch applies the rule's conditions to every locked row and skips the
    # refused ones.
    due = make_deployments(acme, 2)
    refused = make_deployments(globex, 1)[0]
    rule = TRANSITIONS[("past_due", "suspended")]
    real = rule._transition.permission

    def only_acme(actor):
        conditions = real.row_conditions(actor)
        return None if conditions is None else {**conditions, "tenant_id": acme.pk}

    def permission(instance, actor):
        conditions = only_acme(actor)
        return conditions is not None and all(
            getattr(instance, column) == value for column, value in conditions.items()
        )

    permission.kinds = real.kinds
    permission.row_conditions = only_acme
    monkeypatch.setattr(rule._transition, "permission", permission)
    summary = run(*DUNNING)
    assert summary["moved"] == "2"
    assert summary["not allowed by the transitions map"] == "1"
    assert states([refused]) == {"past_due"}
    assert states(due) == {"suspended"}
    assert not batch_events().filter(deployment_id=refused.pk).exists()


def test_failed_chunk_rolls_back_counts_and_exits_non_zero(acme):
    due = sorted(make_deployments(acme, 6), key=lambda d: d.pk)
    # the database refuses an event of the first chunk's last row
    with events_refused_for([due[2].pk]), pytest.raises(CommandError, match="3 deployments failed"):
        run(*DUNNING, "--batch-size=3", "--workers=1")
    # the first chunk is rolled back whole (state and events), the second moved
    assert states(due[:3]) == {"past_due"}
    assert states(due[3:]) == {"suspended"}
    assert batch_events().count() == 3
    # and a second run finishes the job
    assert run(*DUNNING)["moved"] == "3"


def test_subscriptions_follow_in_every_chunk(acme, seeded):
    # past_due -> active as the billing clock's system actor: the subscriptions
    # of the moved deployments become active, a cancelled one stays cancelled.
    due = make_deployments(acme, 7)
    for deployment in due:
        create_subscription(deployment_id=deployment.pk, plan_code="studio", actor=SYSTEM_ACTOR)
    Subscription.objects.update(status="paused")
    Subscription.objects.filter(deployment_id=due[0].pk).update(status="cancelled")
    summary = run("--from=past_due", "--to=active", "--reason=paid", "--batch-size=3")
    assert summary["moved"] == "7"
    statuses = dict(Subscription.objects.values_list("deployment_id", "status"))
    assert statuses.pop(due[0].pk) == "cancelled"
    assert set(statuses.values()) == {"active"}


def test_quiet_without_a_terminal(acme, capsys):
    make_deployments(acme, 3)
    run(*DUNNING)
    assert "[" not in capsys.readouterr().err


def test_progress_bar_draws_on_a_terminal():
    from io import StringIO

    from deployments.management.commands.transition_deployments import Progress

    stream = StringIO()
    progress = Progress(enabled=True, stream=stream)
    progress.update(50, 100)
    progress.update(100, 100)
    progress.close()
    assert "100/100" in stream.getvalue()
    assert stream.getvalue().endswith("\n")
    silent = StringIO()
    Progress(enabled=False, stream=silent).update(1, 2)
    assert silent.getvalue() == ""


@requires_postgres
def test_commit_mode_is_restored_after_a_run(acme):
    from django.db import connection

    make_deployments(acme, 3)
    run(*DUNNING, "--batch-size=2")
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


@requires_postgres
def test_an_error_in_the_chunk_statement_fails_its_chunk_not_the_run(acme):
    # The chunk's one statement runs on a psycopg cursor of its own; its errors
    # must reach the chunk as Django's DatabaseError, or one bad chunk would
    # abort the run with no summary after earlier chunks committed.
    due = sorted(make_deployments(acme, 4), key=lambda d: d.pk)
    with events_refused_for([due[0].pk]), pytest.raises(CommandError, match="2 deployments failed"):
        run(*DUNNING, "--batch-size=2", "--workers=1")
    assert batch_events().count() == 2
