"""The admin never answers 500 to a crafted filter or action value: every
registered admin, every filter parameter of its changelist and every action,
read from the admin registry (a newly registered model is covered without
anyone adding it here). A value that cannot be used is refused with a message."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.test import RequestFactory
from django.urls import reverse

from console.safety import SafeAdminMixin
from deployments.models import Deployment
from tests.admin.conftest import subscribe
from tests.factories import make_deployment

pytestmark = pytest.mark.django_db

# NUL (PostgreSQL refuses it in text), a digit that is no ASCII digit ("²" is
# str.isdigit() but not int()), day counts past what datetime can hold, an
# integer past bigint, and plain junk.
CRAFTED = ["\x00", "a\x00b", "²", "1000000", "99999999999", "99999999999999999999999", "zz"]
BAD_SELECTIONS = ["zz", "\x00", "²", "1.5", "99999999999999999999999"]
# Well-formed ids of nothing: the action runs on an empty selection, no 500.
MISSING_SELECTIONS = ["-1", "00000000-0000-0000-0000-000000000000"]


def _changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def _filter_parameters(model_admin, user) -> list[str]:
    request = RequestFactory().get(_changelist(model_admin.model))
    request.user = user
    changelist = model_admin.get_changelist_instance(request)
    names = [name for spec in changelist.filter_specs for name in spec.expected_parameters()]
    return [*names, "q", "o", "p"]


@pytest.fixture
def world(catalog_items, shop, tenant_a, superuser):
    subscribe(shop, "studio", "storage_50gb")
    make_deployment(tenant_a, slug="blog")


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_every_registered_admin_is_safe():
    unsafe = [
        type(model_admin).__name__
        for model_admin in admin.site._registry.values()
        if not isinstance(model_admin, SafeAdminMixin)
    ]
    assert unsafe == []


@pytest.mark.parametrize(
    "model", sorted(admin.site._registry, key=lambda m: m._meta.label), ids=str
)
def test_crafted_filter_values_are_never_a_500(world, superuser, superuser_client, model):
    model_admin = admin.site._registry[model]
    url = _changelist(model)
    failures = []
    for parameter in _filter_parameters(model_admin, superuser):
        for value in CRAFTED:
            response = superuser_client.get(url, {parameter: value})
            if response.status_code not in (200, 302):
                failures.append((parameter, value, response.status_code))
    assert failures == []


@pytest.mark.parametrize(
    "model", sorted(admin.site._registry, key=lambda m: m._meta.label), ids=str
)
def test_crafted_selections_are_never_a_500(world, superuser, superuser_client, model):
    model_admin = admin.site._registry[model]
    url = _changelist(model)
    failures = []
    for action in _action_names(model_admin, superuser):
        for value in BAD_SELECTIONS:
            response = superuser_client.post(
                url, {"action": action, "index": "0", ACTION_CHECKBOX_NAME: [value]}
            )
            if response.status_code != 302:
                failures.append((action, value, response.status_code))
            elif not any("selection" in m for m in _messages(response)):
                failures.append((action, value, "no message"))
        for value in MISSING_SELECTIONS:
            response = superuser_client.post(
                url, {"action": action, "index": "0", ACTION_CHECKBOX_NAME: [value]}
            )
            if response.status_code >= 500:
                failures.append((action, value, response.status_code))
    assert failures == []


def _action_names(model_admin, user) -> list[str]:
    request = RequestFactory().get("/")
    request.user = user
    return list(model_admin.get_actions(request))


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"in_state_days": "²"}, "in state longer than"),
        ({"in_state_days": "1000000"}, "in state longer than"),
        ({"in_state_days": "99999999999"}, "in state longer than"),
        ({"region": "\x00"}, "region"),
        ({"region": "mars-1"}, "region"),
        ({"plan": "\x00"}, "plan"),
        ({"state__exact": "\x00"}, "state"),
        ({"state__exact": "bogus"}, "state"),
        ({"q": "shop\x00"}, "search"),
    ],
)
def test_a_refused_deployment_filter_says_why(world, superuser_client, query, says):
    response = superuser_client.get(_changelist(Deployment), query)
    assert response.status_code == 302, response.status_code
    page = superuser_client.get(response["Location"])
    assert page.status_code == 200
    shown = [str(m) for m in page.context["messages"]]
    assert any(says in m for m in shown), shown
