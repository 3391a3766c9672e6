"""The bulk move: a target chosen every time, a confirmation page that says what
moves and what is skipped and why, overridden deployments only when ticked, the
set-based path for large selections, a result page that names every skipped
and failed deployment."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console import transitions as console
from deployments.models import Deployment, DeploymentEvent
from tests.admin.conftest import SYSTEM
from tests.factories import TenantFactory, make_deployment, put_in_state

CHANGELIST = "/admin/deployments/deployment/"


def bulk(client, deployments, **data):
    return client.post(
        CHANGELIST,
        {
            "action": "transition_selected",
            "_selected_action": [str(d.pk) for d in deployments],
            "index": "0",
            **data,
        },
    )


def overridden(deployment):
    Deployment.objects.filter(pk=deployment.pk).update(billing_action_suspended=True)
    deployment.refresh_from_db()
    return deployment


def test_the_first_step_preselects_no_target(billing_client, tenant_a):
    rows = [make_deployment(tenant_a) for _ in range(2)]
    response = bulk(billing_client, rows)
    assert response.status_code == 200
    form = response.context["form"]
    assert [c[0] for c in form.fields["to_state"].choices] == [
        "",
        "past_due",
        "paused",
        "suspended",
        "cancelled",
    ]
    assert not form.is_bound
    assert '<option value="" selected>' in response.content.decode()
    assert Deployment.objects.filter(state="active").count() == 2


def test_reviewing_without_a_target_or_reason_is_refused(billing_client, tenant_a):
    rows = [make_deployment(tenant_a)]
    response = bulk(billing_client, rows, confirm="1", to_state="", reason="")
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"to_state", "reason"}
    response = bulk(billing_client, rows, apply="1", to_state="", reason="x")
    assert response.context["form"].errors["to_state"]
    assert Deployment.objects.get().state == "active"


def test_the_confirmation_lists_movers_overridden_and_skipped_with_why(billing_client, tenant_a):
    movers = [make_deployment(tenant_a, slug=f"ok-{i}") for i in range(2)]
    held = overridden(make_deployment(tenant_a, slug="held"))
    gone = make_deployment(tenant_a, slug="gone")
    put_in_state(gone, "cancelled")
    already = make_deployment(tenant_a, slug="already")
    put_in_state(already, "paused")
    response = bulk(
        billing_client,
        [*movers, held, gone, already],
        confirm="1",
        to_state="paused",
        reason="Maintenance",
    )
    assert response.status_code == 200
    plan = response.context["plan"]
    assert [d.slug for d in plan.movers] == ["ok-0", "ok-1"]
    assert [d.slug for d in plan.overridden] == ["held"]
    assert [(d.slug, why) for d, why in plan.refused] == [
        ("already", "already Paused"),
        ("gone", "not allowed from Cancelled"),
    ]
    page = response.content.decode()
    assert 'id="count-move">2<' in page
    assert 'id="count-skipped">2<' in page
    assert 'name="include_overridden"' in page
    assert "not allowed from Cancelled" in page
    # nothing written yet
    assert not DeploymentEvent.objects.filter(to_state="paused").exists()


def test_overridden_move_only_when_ticked_and_the_result_names_every_skip(
    billing_client, tenant_a, monkeypatch
):
    movers = [make_deployment(tenant_a, slug=f"ok-{i}") for i in range(2)]
    held = overridden(make_deployment(tenant_a, slug="held"))
    ticked = overridden(make_deployment(tenant_a, slug="ticked"))
    gone = make_deployment(tenant_a, slug="gone")
    put_in_state(gone, "cancelled")
    racing = make_deployment(tenant_a, slug="racing")
    real = console.transition_state

    def racing_service(**kwargs):
        if kwargs["deployment_id"] == racing.pk:
            real(deployment_id=racing.pk, to_state="past_due", actor=SYSTEM)
        return real(**kwargs)

    monkeypatch.setattr(console, "transition_state", racing_service)
    response = bulk(
        billing_client,
        [*movers, held, ticked, gone, racing],
        apply="1",
        to_state="paused",
        reason="Maintenance window",
        notes="",
        include_overridden=[str(ticked.pk)],
    )
    assert response.status_code == 200
    outcome = response.context["outcome"]
    assert outcome.moved == 3
    assert [(d.slug, why) for d, why in outcome.skipped] == [
        ("held", "billing override on (not ticked)"),
        ("gone", "not allowed from Cancelled"),
        ("racing", "Someone moved it meanwhile: expected Active, it is now Past due"),
    ]
    page = response.content.decode()
    for slug in ("held", "gone", "racing"):
        assert f">{slug}</a>" in page
    states = dict(Deployment.objects.values_list("slug", "state"))
    assert states == {
        "ok-0": "paused",
        "ok-1": "paused",
        "ticked": "paused",
        "held": "active",
        "gone": "cancelled",
        "racing": "past_due",
    }
    event = DeploymentEvent.objects.filter(to_state="paused").order_by("-id").first()
    assert (event.actor, event.reason) == ("billing@arcadia.example", "Maintenance window")


def test_large_selections_take_the_set_based_path(billing_client, tenant_a, monkeypatch):
    monkeypatch.setattr(console, "BULK_BATCH_THRESHOLD", 3)

    def no_single_moves(**kwargs):
        raise AssertionError("a large selection must not loop over transition_state")

    monkeypatch.setattr(console, "transition_state", no_single_moves)
    active = [make_deployment(tenant_a, slug=f"a-{i}") for i in range(4)]
    due = [make_deployment(tenant_a, slug=f"d-{i}") for i in range(2)]
    for d in due:
        put_in_state(d, "past_due")
    held = overridden(make_deployment(tenant_a, slug="held"))
    response = bulk(
        billing_client,
        [*active, *due, held],
        apply="1",
        to_state="suspended",
        reason="Unpaid",
        notes="Ticket 42",
    )
    assert response.status_code == 200
    outcome = response.context["outcome"]
    assert (outcome.path, outcome.moved, outcome.failed) == ("set-based", 6, [])
    assert [(d.slug, why) for d, why in outcome.skipped] == [
        ("held", "billing override on (not ticked)")
    ]
    assert Deployment.objects.filter(state="suspended").count() == 6
    events = DeploymentEvent.objects.filter(to_state="suspended")
    assert {(e.actor, e.reason, e.notes) for e in events} == {
        ("billing@arcadia.example", "Unpaid", "Ticket 42")
    }
    assert {e.from_state for e in events} == {"active", "past_due"}


def test_the_set_based_path_names_what_changed_meanwhile(billing_client, tenant_a, monkeypatch):
    monkeypatch.setattr(console, "BULK_BATCH_THRESHOLD", 1)
    rows = [make_deployment(tenant_a, slug=f"a-{i}") for i in range(3)]
    real = console.transition_batch

    def racing_batch(**kwargs):
        put_in_state(rows[0], "cancelled")  # someone else moved it after the review
        return real(**kwargs)

    monkeypatch.setattr(console, "transition_batch", racing_batch)
    response = bulk(billing_client, rows, apply="1", to_state="paused", reason="r", notes="")
    outcome = response.context["outcome"]
    assert outcome.moved == 2
    assert [(d.slug, why) for d, why in outcome.skipped] == [
        ("a-0", "changed meanwhile (now Cancelled)")
    ]


def _confirm_queries(client, deployments) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = bulk(client, deployments, confirm="1", to_state="paused", reason="window")
    assert response.status_code == 200
    assert len(response.context["plan"].movers) + len(response.context["plan"].overridden) == len(
        deployments
    )
    return len(ctx.captured_queries)


def test_the_confirmation_page_costs_the_same_queries_for_3_or_60(billing_client, tenant_a):
    # session, user, the selection (one query: only the columns the check
    # reads); the check itself reads nothing: constant in the selection's size
    few = [make_deployment(tenant_a, slug=f"few-{i}") for i in range(3)]
    many = [make_deployment(tenant_a, slug=f"many-{i}") for i in range(60)]
    for d in many[::7]:
        overridden(d)
    assert _confirm_queries(billing_client, few) == _confirm_queries(billing_client, many)


def _apply_queries(client, deployments) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = bulk(
            client, deployments, apply="1", to_state="paused", reason="window", notes=""
        )
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_one_by_one_costs_a_fixed_number_of_queries_per_deployment(billing_client, tenant_a):
    # At most BULK_BATCH_THRESHOLD deployments are moved one transition_state
    # each (each its own transaction): linear by design; pin the per-deployment
    # part so nothing else creeps into the loop.
    #   per deployment on PostgreSQL: savepoint, lock + check + update (one
    #   statement), audit event + feed event (one statement), subscription
    #   follow, resources follow, release = 6; elsewhere the lock, the update
    #   and the two inserts are separate statements = 8
    three = [make_deployment(tenant_a, slug=f"three-{i}") for i in range(3)]
    nine = [make_deployment(tenant_a, slug=f"nine-{i}") for i in range(9)]
    per_deployment = (
        _apply_queries(billing_client, nine) - _apply_queries(billing_client, three)
    ) / 6
    assert per_deployment == (6 if connection.vendor == "postgresql" else 8), per_deployment
    assert Deployment.objects.filter(state="paused").count() == 12


def test_support_cannot_run_the_bulk_move(support_client, tenant_a):
    rows = [make_deployment(tenant_a)]
    page = support_client.get(CHANGELIST).content.decode()
    assert "transition_selected" not in page
    response = bulk(support_client, rows, apply="1", to_state="paused", reason="r", notes="")
    assert response.status_code in (200, 302)
    assert "outcome" not in (response.context or {})
    assert Deployment.objects.get().state == "active"


@pytest.mark.parametrize("select_across", ["1"])
def test_select_all_keeps_the_filter_and_sends_no_ids(billing_client, tenant_a, select_across):
    rows = [make_deployment(tenant_a, slug=f"s-{i}") for i in range(3)]
    response = billing_client.post(
        CHANGELIST + "?q=s-1",
        {
            "action": "transition_selected",
            "_selected_action": [str(rows[1].pk)],
            "select_across": select_across,
            "index": "0",
            "confirm": "1",
            "to_state": "paused",
            "reason": "r",
        },
    )
    assert [d.slug for d in response.context["plan"].movers] == ["s-1"]
    assert response.context["selected_ids"] == [str(rows[1].pk)]


# -- at fleet size -----------------------------------------------------------------------

STATES_ROUND = ["active", "active", "active", "past_due", "paused", "cancelled", "trial"]


def fleet(tenant, n: int) -> None:
    """`n` deployments in mixed states, one in 25 with the override on, inserted
    directly (a given step: the check reads the rows' columns, not their history)."""
    import uuid

    from django.utils import timezone

    now = timezone.now()
    Deployment.objects.bulk_create(
        [
            Deployment(
                id=uuid.uuid4(),
                tenant=tenant,
                slug=f"fleet-{i:05d}",
                display_name=f"Fleet {i}",
                region="us-east-1",
                state=STATES_ROUND[i % len(STATES_ROUND)],
                state_since=now,
                billing_action_suspended=i % 25 == 0,
                created_at=now,
            )
            for i in range(n)
        ],
        batch_size=1000,
    )


def select_all(client, **data):
    # "select all": the page's ticked ids (one is enough) and select_across
    return client.post(
        CHANGELIST,
        {
            "action": "transition_selected",
            "_selected_action": [str(Deployment.objects.values_list("pk", flat=True).first())],
            "select_across": "1",
            "index": "0",
            **data,
        },
    )


def _select_all_queries(client, **data) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as ctx:
        response = select_all(client, **data)
    assert response.status_code == 200
    return len(ctx.captured_queries), response


def test_the_confirmation_page_at_5000_deployments_costs_what_it_costs_at_7(
    billing_client, tenant_a
):
    # "select all" over the whole fleet: session, user, permissions, the
    # changelist's count queries, the selection (one query): nothing per row
    fleet(tenant_a, 7)
    small, _ = _select_all_queries(billing_client, confirm="1", to_state="paused", reason="r")
    fleet(TenantFactory(slug="big"), 4993)
    large, response = _select_all_queries(
        billing_client, confirm="1", to_state="paused", reason="r"
    )
    assert large == small, (small, large)
    assert response.context["count"] == 5000
    plan = response.context["plan"]
    assert len(plan.movers) + len(plan.overridden) + len(plan.refused) == 5000
    assert len(response.context["movers_shown"]) == console.BULK_LIST_SHOWN


def test_644_moves_take_the_set_based_path_in_a_fixed_number_of_statements(
    billing_client, tenant_a
):
    # The sweep: 644 active deployments paused in one request. The
    # set-based path runs a fixed number of statements per chunk of 2,000
    # (lock, update, events, feed, subscriptions, resources), so 644 cost what
    # 150 cost.
    import time

    fleet(tenant_a, 150 * len(STATES_ROUND) // 3)  # ~150 active ones
    small_movers = Deployment.objects.filter(state="active", billing_action_suspended=False)
    small_count = small_movers.count()
    small, _ = _select_all_queries(
        billing_client, apply="1", to_state="suspended", reason="sweep", notes=""
    )
    fleet(TenantFactory(slug="big"), 644 * len(STATES_ROUND) // 3)
    started = time.perf_counter()
    large, response = _select_all_queries(
        billing_client, apply="1", to_state="suspended", reason="sweep", notes=""
    )
    elapsed = time.perf_counter() - started
    outcome = response.context["outcome"]
    assert outcome.path == "set-based"
    assert outcome.failed == []
    assert outcome.moved >= 644 > small_count
    if connection.vendor == "postgresql":
        assert large == small, (small, large)
    else:
        # SQLite caps a statement at 999 parameters, so Django splits the
        # audit and feed events' bulk INSERTs into batches of ~100 rows: a few
        # statements more for 644 rows, nowhere near one (or more) per row.
        assert small <= large < small + outcome.moved // 50, (small, large)
    print(f"\n644+ moves through the admin, set-based: {elapsed:.2f} s")
