"""Events (and override changes) are append-only: the admin shows them and nobody,
not even a superuser, adds, changes or deletes one there."""

from __future__ import annotations

from django.contrib.admin.sites import site
from django.test import RequestFactory

from deployments.models import Deployment, DeploymentEvent

EVENTS = "/admin/deployments/deploymentevent/"


def test_the_deployment_page_edits_no_history_even_for_a_superuser(superuser, shop):
    # The history is one timeline read from the feed: no inline, so no
    # formset anyone could post to.
    request = RequestFactory().get("/")
    request.user = superuser
    deployment_admin = site._registry[Deployment]
    assert deployment_admin.get_inline_instances(request, shop) == []
    assert not deployment_admin.has_change_permission(request, shop)


def test_superuser_cannot_add_change_or_delete_an_event(superuser_client, shop):
    event = DeploymentEvent.objects.get(deployment=shop)
    original = (event.reason, event.actor, event.to_state)
    assert superuser_client.get(f"{EVENTS}add/").status_code == 403
    response = superuser_client.post(
        f"{EVENTS}add/", {"deployment": shop.pk, "to_state": "active", "actor": "forged"}
    )
    assert response.status_code == 403
    response = superuser_client.post(
        f"{EVENTS}{event.pk}/change/", {"reason": "rewritten", "actor": "forged"}
    )
    assert response.status_code == 403
    assert superuser_client.post(f"{EVENTS}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    response = superuser_client.post(
        EVENTS, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    event.refresh_from_db()
    assert (event.reason, event.actor, event.to_state) == original
    assert DeploymentEvent.objects.filter(deployment=shop).count() == 1


def test_event_pages_are_viewable(superuser_client, support_client, shop):
    event = DeploymentEvent.objects.get(deployment=shop)
    for client in (superuser_client, support_client):
        assert client.get(f"{EVENTS}{event.pk}/change/").status_code == 200
        response = client.get(EVENTS, {"deployment__id__exact": str(shop.pk)})
        assert response.status_code == 200
        assert [e.pk for e in response.context["cl"].result_list] == [event.pk]


def test_deployment_page_has_no_event_form_fields(superuser_client, shop):
    body = superuser_client.get(f"/admin/deployments/deployment/{shop.pk}/change/").content
    assert b"events-TOTAL_FORMS" not in body
    assert b'name="events-0-' not in body
    assert b"-TOTAL_FORMS" not in body
