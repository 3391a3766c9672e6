"""GET .../statements and .../statements/upcoming: the preview is the statement the
clock writes when nothing changes, closed statements come newest first, another
tenant gets 404, and the preview costs the same queries for 5 or 500 events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deployments.transitions import transition_state
from tests.billing.test_clock import JAN, MAR, OPERATOR, clock, subscribed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded")]


def url(deployment, tail: str = "") -> str:
    return f"/api/v1/deployments/{deployment.pk}/statements{tail}"


def test_the_preview_is_the_statement_the_clock_writes(tenant, tenant_client, other_client):
    deployment, subscription = subscribed(tenant, addons=["storage_50gb"])
    transition_state(
        deployment_id=deployment.pk,
        to_state="paused",
        actor=OPERATOR,
        at=datetime(2026, 1, 10, 6, tzinfo=UTC),
    )
    transition_state(
        deployment_id=deployment.pk,
        to_state="active",
        actor=OPERATOR,
        at=datetime(2026, 1, 20, 18, tzinfo=UTC),
    )
    preview = tenant_client.get(url(deployment, "/upcoming"))
    assert preview.status_code == 200
    draft = preview.json()["statement"]
    assert (draft["id"], draft["closed_at"], draft["period_start"]) == (None, None, "2026-01-01")
    assert len(draft["lines"]) == 4  # plan and add-on, each before and after the pause
    assert tenant_client.get(url(deployment)).json() == {
        "statements": [],
        "next": None,
        "previous": None,
    }

    clock(MAR)
    listed = tenant_client.get(url(deployment)).json()["statements"]
    assert [s["period_start"] for s in listed] == ["2026-02-01", "2026-01-01"]
    january = listed[1]
    assert {k: v for k, v in january.items() if k not in ("id", "closed_at")} == {
        k: v for k, v in draft.items() if k not in ("id", "closed_at")
    }
    assert january["id"] is not None
    assert january["closed_at"].endswith("Z")
    assert january["subscription_id"] == subscription.pk
    # the preview moved on to March
    assert (
        tenant_client.get(url(deployment, "/upcoming")).json()["statement"]["period_start"]
        == "2026-03-01"
    )
    # another tenant: 404 on both
    assert other_client.get(url(deployment)).status_code == 404
    assert other_client.get(url(deployment, "/upcoming")).status_code == 404


@pytest.mark.parametrize("events", [5, 500])
def test_the_preview_costs_the_same_queries_whatever_the_history(
    tenant, tenant_client, django_assert_max_num_queries, events
):
    deployment, _ = subscribed(tenant, at=JAN)
    for i in range(events):
        transition_state(
            deployment_id=deployment.pk,
            to_state="paused" if i % 2 == 0 else "active",
            actor=OPERATOR,
            at=JAN + timedelta(days=1, minutes=i),
        )
    assert tenant_client.get("/api/v1/me").status_code == 200  # token's last use recorded
    # 1. token lookup; 2. the deployment through the tenant scope; 3. the
    # subscription row; 4. the plan versions; 5. the deployment's state
    # changes; 6. its plan changes; 7. its add-on lines
    with django_assert_max_num_queries(7) as captured:
        response = tenant_client.get(url(deployment, "/upcoming"))
    assert response.status_code == 200
    assert len(captured.captured_queries) == 7
