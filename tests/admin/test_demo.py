"""`load_demo` (run by `make run`): a living console, no fixed passwords, idempotent."""

from __future__ import annotations

import itertools
import re
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from arcadia_cloud.models import User
from deployments.models import BillingOverrideChange, Deployment, DeploymentEvent, State
from deployments.operators import BILLING_OPERATOR, SUPPORT
from subscriptions.models import Subscription, SubscriptionAddon


def run() -> str:
    out = StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_demo_has_every_state_histories_subscriptions_and_staff():
    output = run()
    assert set(Deployment.objects.values_list("state", flat=True)) == set(State.values)
    assert Deployment.objects.values("tenant").distinct().count() >= 3
    # every deployment's history starts with its creation and follows the map
    for deployment in Deployment.objects.all():
        events = list(deployment.events.order_by("id"))
        assert events[0].from_state is None
        for before, after in itertools.pairwise(events):
            assert after.from_state == before.to_state
            assert after.occurred_at >= before.occurred_at
        assert events[-1].to_state == deployment.state
        assert deployment.state_since == events[-1].occurred_at
    # events were written by tenants, operators and batch jobs
    actors = set(DeploymentEvent.objects.values_list("actor", flat=True))
    assert {"billing@arcadia.example", "system:dunning", "owner@acme.example"} <= actors
    assert Subscription.objects.count() >= 10
    assert SubscriptionAddon.objects.count() >= 5
    assert BillingOverrideChange.objects.count() == 1
    billing = User.objects.get(email="billing@arcadia.example")
    support = User.objects.get(email="support@arcadia.example")
    assert billing.is_staff
    assert list(billing.groups.values_list("name", flat=True)) == [BILLING_OPERATOR]
    assert support.is_staff
    assert list(support.groups.values_list("name", flat=True)) == [SUPPORT]
    assert billing.has_perm("deployments.transition_deployment")
    assert not support.has_perm("deployments.transition_deployment")
    # the printed passwords work
    password = re.search(r"billing@arcadia\.example / (\S+)", output).group(1)
    assert billing.check_password(password)
    password = re.search(r"support@arcadia\.example / (\S+)", output).group(1)
    support.refresh_from_db()
    assert support.check_password(password)


@pytest.mark.django_db
def test_demo_is_idempotent_and_passwords_change_every_run():
    first = run()
    counts = (Deployment.objects.count(), DeploymentEvent.objects.count())
    second = run()
    assert (Deployment.objects.count(), DeploymentEvent.objects.count()) == counts

    def pw(text):
        return re.search(r"billing@arcadia\.example / (\S+)", text).group(1)

    assert pw(first) != pw(second)


@pytest.mark.django_db
def test_only_the_latest_runs_demo_token_works():
    from arcadia_cloud.models import ApiToken

    first, second = run(), run()
    tokens = [re.search(r"Bearer (arc_[^'\s]+)", text).group(1) for text in (first, second)]
    assert tokens[0] != tokens[1]
    demo = ApiToken.objects.filter(name="demo")
    assert demo.count() == 2
    assert demo.filter(revoked_at__isnull=True).count() == 1
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {tokens[0]}").get("/api/v1/me").status_code == 401
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {tokens[1]}").get("/api/v1/me").status_code == 200


@pytest.mark.django_db
def test_demo_has_resources_driven_by_the_lifecycle_some_pending_and_a_controller(tmp_path):
    from deployments.entitlements import entitlements_of
    from deployments.models import CloudResource

    out = StringIO()
    call_command("load_demo", "--token-dir", str(tmp_path), stdout=out)
    resources = CloudResource.objects.select_related("deployment")
    assert resources.count() >= 10
    # the lifecycle drove them: held in paused and suspended deployments,
    # deleted in cancelled and archived ones
    for resource in resources:
        state = resource.deployment.state
        if state in {"paused", "suspended"}:
            assert (resource.desired_state, resource.held) == ("stopped", True)
        if state in {"cancelled", "archived"}:
            assert resource.desired_state == "deleted"
    # some pending, most reconciled
    pending = [r for r in resources if r.pending]
    assert 0 < len(pending) < resources.count()
    # every deployment within its limits
    for deployment in Deployment.objects.all():
        for entitlement in entitlements_of(deployment.pk):
            assert entitlement.used <= entitlement.limit, (deployment.slug, entitlement)
    # the controller's token is printed and written, and it works
    raw = (tmp_path / "controller_token").read_text().strip()
    assert raw in out.getvalue()
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
    listed = client.get("/api/v1/resources?pending=true&limit=500").json()["resources"]
    assert {r["id"] for r in listed} == {str(r.pk) for r in pending}
    assert User.objects.get(email="controller@arcadia.example").is_controller
