"""Catalog admin: versions read-only once published, publish/retire through the
service, add-on price changes for future attaches only."""

import pytest

from catalog import services
from catalog.errors import PublishedVersionImmutable
from catalog.models import Addon, Plan, PlanVersion
from catalog.services import create_plan_version

pytestmark = pytest.mark.usefixtures("seeded")


@pytest.fixture
def draft():
    return create_plan_version(
        plan=Plan.objects.get(code="studio"), price_cents=5900, currency="USD"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/admin/catalog/plan/",
        "/admin/catalog/planversion/",
        "/admin/catalog/planversion/?status=draft",
        "/admin/catalog/addon/",
        "/admin/catalog/plan/add/",
        "/admin/catalog/planversion/add/",
        "/admin/catalog/addon/add/",
    ],
)
def test_catalog_admin_pages_load(superuser_client, path):
    assert superuser_client.get(path).status_code == 200


def test_plan_page_lists_versions_inline(superuser_client):
    plan = Plan.objects.get(code="studio")
    page = superuser_client.get(f"/admin/catalog/plan/{plan.pk}/change/").content.decode()
    assert "on sale" in page
    assert 'id="versions-group"' in page  # the inline is there
    assert 'id="versions-0"' in page  # with the published version as its first row
    assert 'name="versions-0-price_cents"' not in page  # and read-only


def test_published_version_page_is_read_only(superuser_client):
    version = PlanVersion.objects.get(plan__code="studio")
    url = f"/admin/catalog/planversion/{version.pk}/change/"
    page = superuser_client.get(url).content.decode()
    assert 'name="price_cents"' not in page
    response = superuser_client.get(url)
    assert response.context["has_delete_permission"] is False
    # a view: every term read-only, no Save buttons, and a forged save is refused
    assert response.context["has_change_permission"] is False
    page = response.content.decode()
    assert 'name="_save"' not in page
    assert 'name="_continue"' not in page
    assert "49.00 USD" in page
    forged = superuser_client.post(
        url, {"price_cents": "1", "currency": "EUR", "included_quotas": "{}"}
    )
    assert forged.status_code == 403
    version.refresh_from_db()
    assert (version.price_cents, version.currency) == (4900, "USD")


def test_draft_version_is_editable_and_publishable(superuser_client, draft):
    url = f"/admin/catalog/planversion/{draft.pk}/change/"
    assert 'name="price_cents"' in superuser_client.get(url).content.decode()
    response = superuser_client.post(
        url,
        {
            "price_cents": "64.00",
            "currency": "USD",
            "interval": "month",
            "included_quotas": '{"seats": 8}',
            "trial_days": "14",
            "trial_end_behavior": "activate",
        },
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.price_cents, draft.included_quotas) == (6400, {"seats": 8})
    superuser_client.post(
        "/admin/catalog/planversion/",
        {"action": "publish", "_selected_action": [draft.pk], "confirm": "1"},
    )
    draft.refresh_from_db()
    assert draft.is_published
    assert 'name="price_cents"' not in superuser_client.get(url).content.decode()


def test_add_version_takes_the_next_number_as_a_draft(superuser_client):
    plan = Plan.objects.get(code="team")
    response = superuser_client.post(
        "/admin/catalog/planversion/add/",
        {
            "plan": plan.pk,
            "price_cents": "249.00",
            "currency": "USD",
            "interval": "month",
            "included_quotas": '{"seats": 30}',
            "trial_days": "7",
            "trial_end_behavior": "past_due",
        },
    )
    assert response.status_code == 302
    created = PlanVersion.objects.get(plan=plan, version=2)
    assert created.published_at is None
    assert created.price_cents == 24900


def test_retire_action_asks_first_then_takes_a_version_off_sale(superuser_client):
    from tests.admin.conftest import subscribe
    from tests.factories import TenantFactory, make_deployment

    version = PlanVersion.objects.get(plan__code="hobby")
    tenant = TenantFactory()
    for i in range(2):
        subscribe(make_deployment(tenant, slug=f"hobbyist-{i}"), "hobby")
    response = superuser_client.post(
        "/admin/catalog/planversion/", {"action": "retire", "_selected_action": [version.pk]}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="retire-list"' in body
    assert "off sale; its 2 subscribers keep it" in body
    assert "Yes, retire 1 version" in body
    version.refresh_from_db()
    assert not version.is_retired  # nothing happens before the confirmation
    superuser_client.post(
        "/admin/catalog/planversion/",
        {"action": "retire", "_selected_action": [version.pk], "confirm": "1"},
    )
    version.refresh_from_db()
    assert version.is_retired


def test_retire_confirmation_offers_nothing_for_a_draft_or_a_retired_version(
    superuser_client, draft
):
    response = superuser_client.post(
        "/admin/catalog/planversion/", {"action": "retire", "_selected_action": [draft.pk]}
    )
    body = response.content.decode()
    assert "a draft is not on sale: delete it instead" in body
    assert 'id="console-submit"' not in body
    draft.refresh_from_db()
    assert draft.retired_at is None


def test_publish_action_on_a_published_version_warns_and_changes_nothing(superuser_client):
    version = PlanVersion.objects.get(plan__code="hobby")
    before = version.published_at
    response = superuser_client.post(
        "/admin/catalog/planversion/",
        {"action": "publish", "_selected_action": [version.pk]},
        follow=True,
    )
    assert "already published" in response.content.decode()
    version.refresh_from_db()
    assert version.published_at == before


def test_addon_price_change_through_admin(superuser_client):
    addon = Addon.objects.get(code="storage_50gb")
    response = superuser_client.post(
        f"/admin/catalog/addon/{addon.pk}/change/",
        {
            "name": addon.name,
            "resource_kind": "storage_gb",
            "qty": "50",
            "price_cents": "8.00",
            "currency": "USD",
            "active": "on",
        },
    )
    assert response.status_code == 302
    addon.refresh_from_db()
    assert addon.price_cents == 800


def test_addon_cannot_be_deleted(superuser_client):
    addon = Addon.objects.get(code="storage_50gb")
    assert superuser_client.get(f"/admin/catalog/addon/{addon.pk}/delete/").status_code == 403


@pytest.mark.parametrize(
    "quotas", ['{"seats": -1}', '{"seats": 1.5}', '["seats"]', '{"seats": true}', "not json"]
)
def test_bad_quotas_are_a_form_error_not_a_crash(superuser_client, quotas):
    plan = Plan.objects.get(code="team")
    response = superuser_client.post(
        "/admin/catalog/planversion/add/",
        {
            "plan": plan.pk,
            "price_cents": "100",
            "currency": "USD",
            "interval": "month",
            "included_quotas": quotas,
        },
    )
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert PlanVersion.objects.filter(plan=plan).count() == 1


def test_bad_currency_is_a_form_error(superuser_client):
    addon = Addon.objects.get(code="seats_5")
    response = superuser_client.post(
        f"/admin/catalog/addon/{addon.pk}/change/",
        {
            "name": addon.name,
            "resource_kind": "seats",
            "qty": "5",
            "price_cents": "100",
            "currency": "dollars",
            "active": "on",
        },
    )
    assert response.status_code == 200
    addon.refresh_from_db()
    assert (addon.price_cents, addon.currency) == (2500, "USD")


def test_a_draft_is_deleted_through_the_service(superuser_client, draft, monkeypatch):
    calls = []
    real = services.delete_draft_version

    def spy(**kwargs):
        calls.append(kwargs["plan_version"].pk)
        return real(**kwargs)

    monkeypatch.setattr(services, "delete_draft_version", spy)
    url = f"/admin/catalog/planversion/{draft.pk}/delete/"
    response = superuser_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert calls == [draft.pk]
    assert not PlanVersion.objects.filter(pk=draft.pk).exists()
    # no bulk delete: one draft at a time, from its page
    changelist = superuser_client.get("/admin/catalog/planversion/")
    assert "delete_selected" not in changelist.content.decode()


def test_a_draft_published_while_its_form_was_open_is_not_changed(
    superuser_client, draft, monkeypatch
):
    # The form validated a draft; the service then finds it published (a
    # concurrent publish) and refuses: a message, not a 500, nothing written.
    def published_meanwhile(**kwargs):
        raise PublishedVersionImmutable(draft.pk)

    monkeypatch.setattr(services, "update_draft_version", published_meanwhile)
    url = f"/admin/catalog/planversion/{draft.pk}/change/"
    response = superuser_client.post(
        url,
        {
            "price_cents": "777",
            "currency": "USD",
            "interval": "month",
            "included_quotas": "{}",
            "trial_days": "0",
            "trial_end_behavior": "activate",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "Not saved" in response.content.decode()
    draft.refresh_from_db()
    assert draft.price_cents != 777


def test_the_delete_service_refuses_a_published_version():
    version = PlanVersion.objects.get(plan__code="studio")
    with pytest.raises(PublishedVersionImmutable):
        services.delete_draft_version(plan_version=version)
    assert PlanVersion.objects.filter(pk=version.pk).exists()


# -- publishing, new versions, which version is on sale -------------------------------


def test_publishing_asks_for_confirmation_first(superuser_client, draft):
    response = superuser_client.post(
        "/admin/catalog/planversion/", {"action": "publish", "_selected_action": [draft.pk]}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "freezes its terms for good" in page
    assert "59.00 USD" in page
    assert "goes on sale in place of studio v1" in page
    draft.refresh_from_db()
    assert not draft.is_published
    response = superuser_client.post(
        "/admin/catalog/planversion/",
        {"action": "publish", "_selected_action": [draft.pk], "confirm": "1"},
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.is_published


def test_the_list_shows_which_version_is_on_sale(superuser_client, draft):
    services.publish_plan_version(plan_version=draft)
    response = superuser_client.get(
        "/admin/catalog/planversion/?plan__id__exact=" + str(draft.plan_id)
    )
    rows = {str(v): v for v in response.context["cl"].result_list}
    assert admin_status(rows["studio v2"]) == "on sale"
    assert admin_status(rows["studio v1"]) == "published, superseded"
    plan_page = superuser_client.get(f"/admin/catalog/plan/{draft.plan_id}/change/")
    assert "on sale" in plan_page.content.decode()
    assert "published, superseded" in plan_page.content.decode()


def admin_status(version) -> str:
    from catalog.admin import version_status

    return version_status(version)


def test_a_new_version_starts_as_a_copy_of_the_newest(superuser_client):
    plan = Plan.objects.get(code="team")
    newest = PlanVersion.objects.filter(plan=plan).order_by("-version").first()
    assert newest.included_quotas  # the seeded team plan has quotas
    plan_page = superuser_client.get(f"/admin/catalog/plan/{plan.pk}/change/").content.decode()
    assert f"/admin/catalog/planversion/add/?plan={plan.pk}" in plan_page
    response = superuser_client.get(f"/admin/catalog/planversion/add/?plan={plan.pk}")
    form = response.context["adminform"].form
    assert form.initial["included_quotas"] == newest.included_quotas
    assert (
        form.initial["price_cents"] == f"{newest.price_cents // 100}.{newest.price_cents % 100:02d}"
    )
    assert form.initial["trial_days"] == newest.trial_days
    page = response.content.decode()
    for kind in newest.included_quotas:
        assert kind in page


def test_the_publish_confirmation_costs_the_same_for_one_version_and_for_three(
    superuser_client,
):
    """Each version's superseded one is read for all of them at once: the
    page's query count does not grow with the selection."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    plans = list(Plan.objects.order_by("code")[:3])
    assert len(plans) == 3
    drafts = [
        create_plan_version(plan=plan, price_cents=1000 + i, currency="USD")
        for i, plan in enumerate(plans)
    ]

    def queries(selected) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = superuser_client.post(
                "/admin/catalog/planversion/",
                {"action": "publish", "_selected_action": [d.pk for d in selected]},
            )
        assert response.status_code == 200
        assert response.content.decode().count("goes on sale in place of") == len(selected)
        return len(ctx.captured_queries)

    assert queries(drafts[:1]) == queries(drafts)
