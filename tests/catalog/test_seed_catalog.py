"""`manage.py seed_catalog`: the demo catalog, idempotent."""

from io import StringIO

import pytest
from django.core.management import call_command

from catalog.models import Addon, Plan, PlanVersion
from catalog.selectors import active_version
from catalog.services import update_addon


def _snapshot():
    return (
        sorted(Plan.objects.values_list("code", "name")),
        sorted(PlanVersion.objects.values_list("plan__code", "version", "price_cents", "currency")),
        sorted(Addon.objects.values_list("code", "resource_kind", "qty", "price_cents", "active")),
    )


@pytest.mark.django_db
def test_seed_loads_studio_and_storage_50gb():
    call_command("seed_catalog", verbosity=0)
    studio = Plan.objects.get(code="studio")
    version = active_version(studio)
    assert version is not None
    assert studio.versions.filter(published_at__isnull=False).count() == 1
    assert version.currency == "USD"
    storage = Addon.objects.get(code="storage_50gb")
    assert (storage.resource_kind, storage.qty, storage.price_cents, storage.currency) == (
        "storage_gb",
        50,
        750,
        "USD",
    )
    assert storage.active
    # and enough more for a realistic demo, each plan on sale
    assert Plan.objects.count() >= 4
    assert Addon.objects.count() >= 5
    assert all(active_version(plan) is not None for plan in Plan.objects.all())


@pytest.mark.django_db
def test_seed_is_idempotent_and_keeps_later_catalog_changes():
    out = StringIO()
    call_command("seed_catalog", stdout=out)
    first = _snapshot()
    assert "rows created" in out.getvalue()
    call_command("seed_catalog", verbosity=0)
    assert _snapshot() == first
    # an operator's price change survives a re-run
    update_addon(addon=Addon.objects.get(code="storage_50gb"), price_cents=800)
    call_command("seed_catalog", verbosity=0)
    assert Addon.objects.get(code="storage_50gb").price_cents == 800
    assert PlanVersion.objects.filter(plan__code="studio").count() == 1


@pytest.mark.django_db
def test_a_plan_with_only_a_draft_gets_a_version_on_sale():
    from catalog import selectors, services
    from catalog.models import Plan

    studio = services.create_plan(code="studio", name="Studio")
    services.create_plan_version(plan=studio, price_cents=1, currency="USD")  # a draft only
    call_command("seed_catalog", verbosity=0)
    studio = Plan.objects.get(code="studio")
    assert selectors.active_version(studio) is not None
    assert selectors.resolve_plan_version(plan_code="studio") is not None
