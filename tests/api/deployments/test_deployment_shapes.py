"""Response shapes: the hand-rendered bodies match the OpenAPI serializers, SPEC's
field lists, and every timestamp is ISO 8601 UTC with a Z; unsupported methods
are JSON 405s that change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from arcadia_cloud.formats import iso
from deployments.api.serializers import DeploymentOut, EventOut
from tests.api.deployments.spec_shapes import ISO_Z, SPEC_DEPLOYMENT, SPEC_EVENT
from tests.deployments.helpers import snapshot


@pytest.mark.django_db
def test_show_body_matches_spec_and_openapi_shapes(tenant_client, deployment, tenant_identity):
    tenant_client.post(
        f"/api/v1/deployments/{deployment.pk}/transition",
        {"to_state": "paused", "reason": "r", "notes": "n"},
        format="json",
    )
    body = tenant_client.get(f"/api/v1/deployments/{deployment.pk}").json()
    assert set(body) == {"deployment", "subscription", "events"}
    assert set(body["deployment"]) == SPEC_DEPLOYMENT == set(DeploymentOut().fields)
    for event in body["events"]:
        # SPEC's event fields, plus the request id the event was written under
        assert set(event) == set(EventOut().fields) == SPEC_EVENT | {"request_id"}
        assert ISO_Z.match(event["occurred_at"]), event["occurred_at"]
    assert body["events"][-1]["actor"] == tenant_identity.email
    for key in ("state_since", "created_at"):
        assert ISO_Z.match(body["deployment"][key]), body["deployment"][key]


def test_iso_is_utc_with_z_whatever_the_offset():
    plus_two = timezone(timedelta(hours=2))
    assert iso(datetime(2026, 3, 1, 2, 30, tzinfo=plus_two)) == "2026-03-01T00:30:00Z"
    assert iso(datetime(2026, 3, 1, 0, 0, 0, 5, tzinfo=UTC)) == "2026-03-01T00:00:00.000005Z"
    assert iso(None) is None


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["put", "patch", "delete"])
@pytest.mark.parametrize("suffix", ["", "/events", "/transition"])
def test_unsupported_methods_are_json_405_and_change_nothing(
    tenant_client, deployment, method, suffix
):
    before = snapshot(deployment)
    response = getattr(tenant_client, method)(
        f"/api/v1/deployments/{deployment.pk}{suffix}", {"to_state": "paused"}, format="json"
    )
    assert response.status_code == 405
    assert response.json() == {"error": "method_not_allowed"}
    assert snapshot(deployment) == before


@pytest.mark.django_db
def test_get_on_transition_is_405(tenant_client, deployment):
    response = tenant_client.get(f"/api/v1/deployments/{deployment.pk}/transition")
    assert response.status_code == 405
    assert response.json() == {"error": "method_not_allowed"}
