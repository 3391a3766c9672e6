"""The console's resources list: every tenant's resources, filtered by kind,
desired vs observed and pending; read-only (what is wanted changes through the
services, what is observed through the controllers)."""

from __future__ import annotations

import re

import pytest

from arcadia_cloud.actors import Actor
from arcadia_cloud.services import create_identity
from deployments.models import CloudResource
from deployments.resources import create_resource, report_status
from tests.admin.conftest import SYSTEM, subscribe
from tests.factories import make_deployment

pytestmark = pytest.mark.django_db

URL = "/admin/deployments/cloudresource/"


@pytest.fixture
def resources(catalog_items, shop, tenant_b):
    """shop: `uploads` (storage_gb, reported running) and `team` (seats,
    pending); tenant b's `portal`: `assets` (storage_gb, pending)."""
    subscribe(shop, "studio", "storage_50gb", "seats_5")
    portal = make_deployment(tenant_b, slug="portal")
    subscribe(portal, "studio", "storage_50gb")
    uploads = create_resource(
        deployment_id=shop.pk, kind="storage_gb", name="uploads", qty=10, actor=SYSTEM
    )
    create_resource(deployment_id=shop.pk, kind="seats", name="team", qty=2, actor=SYSTEM)
    create_resource(deployment_id=portal.pk, kind="storage_gb", name="assets", qty=5, actor=SYSTEM)
    controller = Actor.for_identity(create_identity(email="ctl@arcadia.example", controller=True))
    report_status(
        resource_id=uploads.pk, observed_state="running", observed_generation=1, actor=controller
    )


def names(client, query: str = "") -> list[str]:
    response = client.get(URL + query)
    assert response.status_code == 200
    return sorted(
        re.findall(r'<th class="field-name"><a href="[^"]+">([^<]+)</a>', response.content.decode())
    )


def test_support_sees_every_tenants_resources(support_client, resources):
    assert names(support_client) == ["assets", "team", "uploads"]


def test_filters(support_client, resources, shop):
    assert names(support_client, "?kind=seats") == ["team"]
    assert names(support_client, "?pending=yes") == ["assets", "team"]
    assert names(support_client, "?pending=no") == ["uploads"]
    assert names(support_client, "?observed=match") == ["uploads"]
    assert names(support_client, "?observed=differ") == ["assets", "team"]
    assert names(support_client, "?desired_state__exact=running") == ["assets", "team", "uploads"]
    assert names(support_client, f"?deployment__id__exact={shop.pk}") == ["team", "uploads"]
    assert names(support_client, "?q=portal") == ["assets"]
    resource_id = CloudResource.objects.get(name="team").pk
    assert names(support_client, f"?q={resource_id}") == ["team"]


def test_a_crafted_filter_value_is_refused_not_a_500(support_client, resources):
    for query in ("?pending=maybe", "?observed=x", "?desired_state__exact=gone"):
        response = support_client.get(URL + query, follow=True)
        assert response.status_code == 200, query
        assert "Filters not applied" in response.content.decode(), query


def test_nobody_adds_changes_or_deletes_a_resource_here(superuser_client, resources):
    resource = CloudResource.objects.get(name="team")
    assert superuser_client.get(URL + "add/").status_code == 403
    page = superuser_client.get(f"{URL}{resource.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    response = superuser_client.post(f"{URL}{resource.pk}/change/", {"qty": 99})
    assert response.status_code == 403
    assert superuser_client.post(f"{URL}{resource.pk}/delete/", {"post": "yes"}).status_code == 403
    assert CloudResource.objects.get(pk=resource.pk).qty == 2
