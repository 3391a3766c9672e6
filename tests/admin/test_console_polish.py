"""The console's rough edges: the override column, the tenant filter, plurals,
bad filter values explained, a readable 403, "View site"."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from tests.factories import TenantFactory, make_deployment

CHANGELIST = "/admin/deployments/deployment/"


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_override_column_is_words_not_a_red_cross(billing_client, shop):
    page = billing_client.get(CHANGELIST).content.decode()
    assert '<span class="override-flag off">off</span>' in page
    assert "icon-no.svg" not in page
    assert "column-billing_action_suspended" not in page
    assert "column-override_column" in page


def test_the_tenant_filter_does_not_list_every_tenant(billing_client, shop, tenant_a):
    others = [TenantFactory(slug=f"far-{i}") for i in range(30)]
    page = billing_client.get(CHANGELIST).content.decode()
    assert 'id="tenant-filter"' in page
    assert "admin-autocomplete" in page
    for tenant in others:
        assert f"tenant__id__exact={tenant.pk}" not in page
        assert f">{tenant.slug}<" not in page
    filtered = billing_client.get(f"{CHANGELIST}?tenant__id__exact={tenant_a.pk}")
    assert [d.slug for d in filtered.context["cl"].result_list] == ["shop"]
    # the chosen tenant is the box's value
    assert f'<option value="{tenant_a.pk}" selected>' in filtered.content.decode()


def test_the_tenant_autocomplete_answers_a_support_user(support_client, tenant_a, shop):
    response = support_client.get(
        "/admin/autocomplete/",
        {
            "app_label": "deployments",
            "model_name": "deployment",
            "field_name": "tenant",
            "term": "acm",
        },
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == [str(tenant_a)]


def test_a_bad_tenant_id_is_explained(billing_client, shop):
    response = billing_client.get(f"{CHANGELIST}?tenant__id__exact=nope", follow=True)
    assert any("'nope' is not a tenant id" in m for m in messages_of(response))


def test_one_day_is_singular(billing_client, shop):
    page = billing_client.get(CHANGELIST).content.decode()
    assert "1 day<" in page or "1 day\n" in page
    assert "1 days" not in page


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("?state__exact=bogus", "'bogus' is not a state"),
        ("?foo=1", "'foo' is not a filter of this list"),
        ("?plan=zzz", "plan 'zzz' is not a plan of the catalog"),
        ("?region=mars", "region 'mars' is not one of the regions"),
    ],
)
def test_a_bad_filter_value_is_explained_once(billing_client, shop, query, why):
    response = billing_client.get(CHANGELIST + query, follow=True)
    said = [m for m in messages_of(response) if why in m]
    assert len(said) == 1, messages_of(response)
    assert "Cannot resolve keyword" not in " ".join(messages_of(response))


def test_a_bare_error_flag_is_explained(billing_client, shop):
    response = billing_client.get(CHANGELIST + "?e=1")
    assert response.status_code == 200
    assert any("could not be applied" in m for m in messages_of(response))


def test_the_403_page_is_readable_and_has_no_json(support_client, shop):
    response = support_client.get(f"{CHANGELIST}{shop.pk}/transition/paused/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "You can&#x27;t do this with your role" in page or "You can't do this" in page
    assert "support@arcadia.example" in page
    assert '{"' not in page
    assert response["Content-Type"].startswith("text/html")


def test_view_site_points_at_a_page_that_exists(billing_client, client, shop):
    page = billing_client.get("/admin/").content.decode()
    if "View site" in page:
        assert client.get("/").status_code == 200


def test_the_changelist_stays_one_query_page_with_the_new_filter(
    billing_client, tenant_a, django_assert_max_num_queries
):
    for i in range(5):
        make_deployment(tenant_a, slug=f"q-{i}")
    with django_assert_max_num_queries(12):
        billing_client.get(f"{CHANGELIST}?tenant__id__exact={tenant_a.pk}")
