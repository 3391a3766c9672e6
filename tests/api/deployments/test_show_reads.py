"""`deployments.selectors.show_reads` (on PostgreSQL one statement: the
deployment's join with its add-on lines, pending changes and newest events
gathered in LATERAL subqueries as one array per column, transposed in Python)
returns what the ORM selectors do (`get_deployment_for_show` +
`newest_events`): the same show body, and the same field values on every
instance it caches (subscription, plan version, plan, add-on lines, pending
changes with their target version and plan, events), in the same orders.
Elsewhere (SQLite) `show_reads` is the ORM selectors, so this holds trivially.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from arcadia_cloud.actors import Actor
from deployments import selectors
from deployments.api.serializers import render_deployment, render_event
from deployments.models import DeploymentEvent
from deployments.services import create_subscription
from subscriptions.shapes import render_subscription
from tests.factories import SYSTEM_ACTOR, make_deployment

pytestmark = pytest.mark.django_db

#: Text the arrays must carry through as it is (quoting, separators, NULL).
AWKWARD = ['a "quoted", {braced} \\ note', "NULL", "", "line\nbreak, tab\t", "ünïcödé ✓"]


def _body(deployment, events, actor) -> dict | None:
    """The show body, as `DeploymentViewSet.retrieve` renders it."""
    if deployment is None:
        assert events == []
        return None
    return {
        "deployment": render_deployment(deployment, actor),
        "subscription": render_subscription(selectors.subscription_of(deployment)),
        "events": [render_event(e) for e in events],
    }


def _fields(instance) -> dict | None:
    if instance is None:
        return None
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def _graph(deployment, events) -> dict | None:
    """Every field of every instance the show reads leave, with the caches
    the rendering walks (no query: a missing cache fails the test)."""
    if deployment is None:
        return None
    subscription = selectors.subscription_of(deployment)
    graph = {"deployment": _fields(deployment), "subscription": None}
    if subscription is not None:
        cache = subscription._prefetched_objects_cache
        assert set(cache) == {"addons", "pending_changes"}
        version = subscription.plan_version
        graph["subscription"] = {
            "row": _fields(subscription),
            "deployment_is_cached": subscription.deployment is deployment,
            "version": _fields(version),
            "plan": _fields(version.plan),
            "addons": [_fields(line) for line in cache["addons"]],
            "pending_changes": [
                (
                    _fields(change),
                    _fields(change.target_version),
                    _fields(change.target_version.plan) if change.target_version else None,
                )
                for change in cache["pending_changes"]
            ],
        }
    # events: the model's columns (the show may read them as plain rows)
    graph["events"] = [
        {f.attname: getattr(e, f.attname) for f in DeploymentEvent._meta.concrete_fields}
        for e in events
    ]
    return graph


def _orm(actor, pk):
    deployment = selectors.get_deployment_for_show(actor, pk)
    if deployment is None:
        return None, []
    return deployment, selectors.newest_events(deployment.pk)


def _assert_same(actor, pk, django_assert_num_queries) -> dict | None:
    expected = _orm(actor, pk)
    got = selectors.show_reads(actor, pk)
    with django_assert_num_queries(0):  # everything rendered is cached
        got_body, got_graph = _body(*got, actor), _graph(*got)
    assert got_body == _body(*expected, actor)
    assert got_graph == _graph(*expected)
    return got_body


@pytest.fixture
def busy(tenant):
    """A deployment with a subscription holding 3 add-on lines (one detached),
    2 pending changes (the later-created one effective first) besides a
    withdrawn, an applied and a failed one, and more than SHOW_EVENTS events
    with awkward text."""
    from catalog.models import PlanVersion
    from subscriptions.models import PendingChange, Subscription
    from subscriptions.services import attach_addon, detach_addon

    call_command("seed_catalog", verbosity=0)
    deployment = make_deployment(tenant)
    create_subscription(
        deployment_id=deployment.pk,
        plan_code="studio",
        addon_codes=["storage_50gb", "seats_5"],
        actor=SYSTEM_ACTOR,
    )
    subscription = Subscription.objects.get(deployment=deployment)
    attach_addon(subscription=subscription, addon_code="gpu_hours_10", actor=SYSTEM_ACTOR)
    first = subscription.addons.order_by("id").first()
    detach_addon(subscription=subscription, line_id=first.pk, actor=SYSTEM_ACTOR)
    team = PlanVersion.objects.filter(plan__code="team").order_by("id").first()
    now = timezone.now()

    def change(kind, days, **kw):
        return PendingChange.objects.create(
            subscription=subscription,
            kind=kind,
            target_version=team if kind == "change_plan" else None,
            effective_at=now + timedelta(days=days),
            requested_by="owner@acme.example",
            requested_by_kind="identity",
            reason=kw.pop("reason", AWKWARD[0]),
            **kw,
        )

    change("change_plan", 1, withdrawn_at=now, withdrawn_by="x", withdrawn_reason="replaced")
    change("cancel", 2, applied_at=now)
    change("change_plan", 3, failed_at=now, failure_reason="no")
    change("cancel", 20, reason=AWKWARD[1])
    change("change_plan", 10, requested_by_tenant_id=tenant.pk, requested_by_identity_id=7)
    DeploymentEvent.objects.bulk_create(
        DeploymentEvent(
            deployment=deployment,
            from_state=None if i % 7 == 0 else "active",
            to_state="paused" if i % 2 else "active",
            reason=AWKWARD[i % len(AWKWARD)],
            notes=AWKWARD[(i + 1) % len(AWKWARD)],
            actor="system:tests",
            occurred_at=now - timedelta(minutes=200 - i),
        )
        for i in range(selectors.SHOW_EVENTS + 20)
    )
    return deployment


def test_subscribed_deployment_reads_the_same(
    busy, tenant_identity, platform_admin, django_assert_num_queries
):
    for actor in (Actor.for_identity(tenant_identity), Actor.for_identity(platform_admin)):
        body = _assert_same(actor, busy.pk, django_assert_num_queries)
        subscription = body["subscription"]
        assert len(subscription["addons"]) == 2  # the detached line is left out
        assert [c["kind"] for c in subscription["pending_changes"]] == ["change_plan", "cancel"]
        assert len(body["events"]) == selectors.SHOW_EVENTS
        ids = [e["id"] for e in body["events"]]
        assert ids == sorted(ids)  # oldest first, the newest SHOW_EVENTS


def test_deployment_without_subscription_reads_the_same(
    tenant, tenant_identity, django_assert_num_queries
):
    deployment = make_deployment(tenant)
    actor = Actor.for_identity(tenant_identity)
    body = _assert_same(actor, deployment.pk, django_assert_num_queries)
    assert body["subscription"] is None
    assert len(body["events"]) == 1
    # by its id as text, as the URL gives it
    assert _assert_same(actor, str(deployment.pk), django_assert_num_queries) == body


def test_foreign_and_missing_deployments_read_none(
    busy, other_tenant, other_identity, django_assert_num_queries
):
    other = Actor.for_identity(other_identity)
    assert selectors.show_reads(other, busy.pk) == (None, [])
    assert _assert_same(other, busy.pk, django_assert_num_queries) is None
    assert selectors.show_reads(other, uuid.uuid4()) == (None, [])
