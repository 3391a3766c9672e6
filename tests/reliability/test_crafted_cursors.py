"""A cursor is opaque, but a client can craft one: any value a cursor-paginated
list (a deployment's events, its statements, an endpoint's deliveries) cannot
use is a 400 naming the parameter, never a 500, and changes nothing."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from arcadia_cloud.actors import Actor
from deployments.models import DeploymentEvent
from feed.models import Event
from webhooks import services as webhooks

pytestmark = pytest.mark.django_db

#: every list paged by an opaque `cursor`
CURSOR_LISTS = ["events", "statements", "deliveries"]


@pytest.fixture
def list_url(request, settings, tenant, deployment):
    """The path of the list named by the test's `route` parameter."""
    route = request.param
    if route == "deliveries":
        settings.ARCADIA_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
        endpoint = webhooks.create_endpoint(
            actor=Actor(kind="operator", label="ops@arcadia.example"),
            url="http://127.0.0.1:9/hook",
            types=[],
            tenant_id=tenant.pk,
        ).endpoint
        return f"/api/v1/webhook-endpoints/{endpoint.pk}/deliveries"
    return f"/api/v1/deployments/{deployment.pk}/{route}"


def _cursor(querystring: str) -> str:
    return quote(base64.b64encode(querystring.encode()).decode())


@pytest.mark.parametrize("list_url", CURSOR_LISTS, indirect=True)
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
def test_a_crafted_cursor_is_400_naming_the_parameter(tenant_client, list_url, decoded):
    events = DeploymentEvent.objects.count()
    facts = Event.objects.count()
    response = tenant_client.get(f"{list_url}?cursor={_cursor(decoded)}")
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "bad_request"
    assert list(body["detail"]) == ["cursor"]
    assert DeploymentEvent.objects.count() == events
    assert Event.objects.count() == facts


def test_a_cursor_the_server_wrote_still_pages(tenant_client, deployment):
    """The checks refuse only what the server never writes: `p=<id>`, `r=1`."""
    for decoded in (f"p={deployment.events.get().pk - 1}", "r=1&p=999999", "o=0"):
        response = tenant_client.get(
            f"/api/v1/deployments/{deployment.pk}/events?cursor={_cursor(decoded)}"
        )
        assert response.status_code == 200, (decoded, response.content)
