"""GET /api/v1/deployments: filters, limit, pagination; GET .../events paging."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.factories import make_deployment, put_in_state


def ids(body) -> list[str]:
    return [d["id"] for d in body["deployments"]]


def relative(link: str) -> str:
    parts = urlparse(link)
    return f"{parts.path}?{parts.query}"


@pytest.mark.django_db
def test_filters_by_state_and_region(tenant_client, tenant):
    paused_eu = put_in_state(make_deployment(tenant, region="eu-west-1"), "paused")
    active_eu = make_deployment(tenant, region="eu-west-1")
    paused_us = put_in_state(make_deployment(tenant, region="us-east-1"), "paused")

    by_state = tenant_client.get("/api/v1/deployments?state=paused").json()
    assert set(ids(by_state)) == {str(paused_eu.pk), str(paused_us.pk)}
    assert by_state["count"] == 2
    by_region = tenant_client.get("/api/v1/deployments?region=eu-west-1").json()
    assert set(ids(by_region)) == {str(paused_eu.pk), str(active_eu.pk)}
    both = tenant_client.get("/api/v1/deployments?region=eu-west-1&state=paused").json()
    assert ids(both) == [str(paused_eu.pk)]


@pytest.mark.django_db
def test_admin_filters_by_tenant(admin_client_api, tenant, other_tenant):
    mine = make_deployment(tenant)
    make_deployment(other_tenant)
    body = admin_client_api.get(f"/api/v1/deployments?tenant_id={tenant.pk}").json()
    assert ids(body) == [str(mine.pk)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "offset=-1",
        "offset=x",
        "state=flying",
        "tenant_id=not-a-uuid",
        "region=eu%00west",
        "state=%00",
    ],
)
def test_bad_query_values_are_400(tenant_client, deployment, query):
    response = tenant_client.get(f"/api/v1/deployments?{query}")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "bad_request"
    assert query.split("=")[0] in body["detail"]


@pytest.mark.django_db
def test_limit_defaults_to_50_and_caps_at_500(tenant_client, tenant):
    for _ in range(55):
        make_deployment(tenant)
    default = tenant_client.get("/api/v1/deployments").json()
    assert len(default["deployments"]) == 50
    assert default["count"] == 55
    assert default["next"] is not None
    everything = tenant_client.get("/api/v1/deployments?limit=500").json()
    assert len(everything["deployments"]) == 55
    assert everything["next"] is None


@pytest.mark.django_db
def test_pages_walk_every_deployment_once_newest_first(tenant_client, tenant):
    made = [make_deployment(tenant) for _ in range(7)]
    seen: list[str] = []
    page = tenant_client.get("/api/v1/deployments?limit=3").json()
    assert page["previous"] is None
    pages = 1
    while True:
        seen.extend(ids(page))
        assert page["count"] == 7
        if page["next"] is None:
            break
        assert parse_qs(urlparse(page["next"]).query)["limit"] == ["3"]
        page = tenant_client.get(relative(page["next"])).json()
        assert page["previous"] is not None
        pages += 1
    assert pages == 3
    assert seen == [str(d.pk) for d in reversed(made)]
    back = tenant_client.get(relative(page["previous"])).json()
    assert ids(back) == seen[3:6]


@pytest.mark.django_db
def test_events_are_paginated_oldest_first_with_a_cursor(tenant_client, actors_api, deployment):
    from deployments.transitions import transition_state

    for _ in range(3):
        transition_state(deployment_id=deployment.pk, to_state="paused", actor=actors_api)
        transition_state(deployment_id=deployment.pk, to_state="active", actor=actors_api)
    # 1 creation + 6 moves
    url = f"/api/v1/deployments/{deployment.pk}/events?limit=3"
    first = tenant_client.get(url).json()
    assert first["previous"] is None
    seen = list(first["events"])
    page = first
    while page["next"]:
        page = tenant_client.get(relative(page["next"])).json()
        seen.extend(page["events"])
    assert len(seen) == 7
    assert [e["id"] for e in seen] == sorted(e["id"] for e in seen)
    assert seen[0]["from_state"] is None
    assert seen[0]["to_state"] == "active"
    assert [e["to_state"] for e in seen[1:]] == ["paused", "active"] * 3
    assert set(seen[0]) >= {
        "id",
        "from_state",
        "to_state",
        "reason",
        "actor",
        "notes",
        "occurred_at",
    }
    assert seen[0]["occurred_at"].endswith("Z")


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=x", "cursor=garbage"])
def test_bad_event_paging_is_400(tenant_client, deployment, query):
    response = tenant_client.get(f"/api/v1/deployments/{deployment.pk}/events?{query}")
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


@pytest.mark.django_db
def test_show_has_the_100_newest_events_oldest_first(tenant_client, actors_api, deployment):
    from deployments.models import DeploymentEvent
    from deployments.transitions import transition_state

    for _ in range(60):
        transition_state(deployment_id=deployment.pk, to_state="paused", actor=actors_api)
        transition_state(deployment_id=deployment.pk, to_state="active", actor=actors_api)
    body = tenant_client.get(f"/api/v1/deployments/{deployment.pk}").json()
    newest = list(
        DeploymentEvent.objects.filter(deployment=deployment)
        .order_by("-id")
        .values_list("id", flat=True)[:100]
    )
    assert [e["id"] for e in body["events"]] == sorted(newest)
    assert body["subscription"] is None
    assert body["deployment"]["id"] == str(deployment.pk)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?limit=10",
        "?offset=10&limit=10",
        "?offset=5&limit=10",
        "?offset=20&limit=10&state=active&region=us-east-1",
        "?region=a%20b&offset=3&limit=2&z=&tenant_id=x",
        "?offset=90&limit=10",
    ],
)
def test_page_links_are_drfs(query):
    """The offset pagination writes its next / previous links in one pass over
    the URL: the same links DRF's own pagination writes."""
    from rest_framework import pagination
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from arcadia_cloud.api.pagination import LimitOffsetPagination

    request = Request(APIRequestFactory().get(f"/api/v1/deployments{query}"))
    ours, drfs = LimitOffsetPagination(), pagination.LimitOffsetPagination()
    for paginator in (ours, drfs):
        paginator.request = request
        paginator.limit = ours.get_limit(request)
        paginator.offset = ours.get_offset(request)
        paginator.count = 95
    assert ours.get_next_link() == drfs.get_next_link()
    assert ours.get_previous_link() == drfs.get_previous_link()
