"""A cursor is opaque, but a client can craft one: any value the events list
cannot use is a 400 naming the parameter, never a 500, and changes nothing."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from deployments.models import DeploymentEvent

pytestmark = pytest.mark.django_db


def _cursor(querystring: str) -> str:
    return quote(base64.b64encode(querystring.encode()).decode())


@pytest.mark.parametrize(
    "decoded",
    [
        "p=abc",
        "p=%00",
        "p=1e5",
        "p=1.5",
        "p=",
        "r=1&p=abc",
        "p=99999999999999999999999",
        "p=-1%00",
        "o=abc",
        "r=abc",
    ],
)
def test_a_crafted_cursor_is_400_naming_the_parameter(tenant_client, deployment, decoded):
    events = DeploymentEvent.objects.count()
    response = tenant_client.get(
        f"/api/v1/deployments/{deployment.pk}/events?cursor={_cursor(decoded)}"
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "bad_request"
    assert list(body["detail"]) == ["cursor"]
    assert DeploymentEvent.objects.count() == events


def test_a_cursor_the_server_wrote_still_pages(tenant_client, deployment):
    """The checks refuse only what the server never writes: `p=<id>`, `r=1`."""
    for decoded in (f"p={deployment.events.get().pk - 1}", "r=1&p=999999", "o=0"):
        response = tenant_client.get(
            f"/api/v1/deployments/{deployment.pk}/events?cursor={_cursor(decoded)}"
        )
        assert response.status_code == 200, (decoded, response.content)
