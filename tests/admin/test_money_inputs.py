"""Money in the console: typed in the currency's major unit (its ISO 4217
exponent), stored as integer minor units, shown in the one format."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arcadia_cloud.money import MAX_MINOR, exponent, format_money
from catalog import services as catalog
from catalog.models import Addon, PlanVersion
from console.money import MajorUnitsPriceForm, major_text
from tests.admin.conftest import subscribe
from tests.factories import make_deployment

#: one currency per exponent: 0, 2 and 3 decimals
CURRENCIES = {"JPY": 0, "USD": 2, "BHD": 3}


class PriceForm(MajorUnitsPriceForm):
    class Meta:
        model = Addon
        fields = ["price_cents", "currency"]


def parse(text: str, currency: str):
    form = PriceForm({"price_cents": text, "currency": currency})
    return form.cleaned_data["price_cents"] if form.is_valid() else form.errors


def test_the_exponents_come_from_iso_4217():
    assert {code: exponent(code) for code in CURRENCIES} == CURRENCIES


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("59.00", "USD", 5900),
        ("59", "USD", 5900),
        ("59.5", "USD", 5950),
        ("1,500", "JPY", 1500),
        ("1500", "JPY", 1500),
        ("1.250", "BHD", 1250),
        ("199.00 USD", "USD", 19900),
    ],
)
def test_major_units_become_minor_units(text, currency, minor):
    assert parse(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "why"),
    [
        ("59.001", "USD", "at most 2 decimals"),
        ("1500.5", "JPY", "no minor unit"),
        ("1500.00", "JPY", "no minor unit"),
        ("1.2500", "BHD", "at most 3 decimals"),
        ("59,00", "USD", "is not an amount"),
        ("-1.00", "USD", "must not be negative"),
        ("1e3", "USD", "is not an amount"),
        ("5.00 EUR", "USD", "is in EUR"),
    ],
)
def test_bad_amounts_are_form_errors(text, currency, why):
    errors = parse(text, currency)
    assert why in " ".join(errors["price_cents"])


@settings(max_examples=150, deadline=None)
@given(currency=st.sampled_from(sorted(CURRENCIES)), minor=st.integers(0, MAX_MINOR))
def test_what_is_shown_reads_back_to_the_same_minor_units(currency, minor):
    assert parse(major_text(minor, currency), currency) == minor
    assert parse(format_money(minor, currency), currency) == minor


@settings(max_examples=150, deadline=None)
@given(
    currency=st.sampled_from(sorted(CURRENCIES)),
    whole=st.integers(0, 10**6),
    extra=st.integers(1, 10**4),
)
def test_more_decimals_than_the_currency_has_are_refused(currency, whole, extra):
    digits = CURRENCIES[currency]
    decimals = str(extra).rjust(digits + 1, "0")[-(digits + 1) :]
    if not decimals.strip("0"):
        decimals = decimals[:-1] + "1"
    errors = parse(f"{whole}.{decimals}", currency)
    assert isinstance(errors, dict)
    assert "price_cents" in errors


@settings(max_examples=100, deadline=None)
@given(
    currency=st.sampled_from(sorted(CURRENCIES)),
    whole=st.integers(0, 10**6),
    data=st.data(),
)
def test_any_allowed_number_of_decimals_is_exact(currency, whole, data):
    digits = CURRENCIES[currency]
    places = data.draw(st.integers(0, digits))
    frac = data.draw(st.integers(0, 10**places - 1)) if places else 0
    text = f"{whole}.{frac:0{places}d}" if places else str(whole)
    assert parse(text, currency) == whole * 10**digits + frac * 10 ** (digits - places)


# -- through the admin -------------------------------------------------------------------


def test_an_addon_priced_59_00_is_stored_as_5900_cents(superuser_client, catalog_items):
    addon = Addon.objects.get(code="seats_5")
    response = superuser_client.post(
        f"/admin/catalog/addon/{addon.pk}/change/",
        {
            "name": addon.name,
            "resource_kind": "seats",
            "qty": "5",
            "price_cents": "59.00",
            "currency": "USD",
            "active": "on",
        },
    )
    assert response.status_code == 302
    addon.refresh_from_db()
    assert addon.price_cents == 5900
    page = superuser_client.get(f"/admin/catalog/addon/{addon.pk}/change/").content.decode()
    assert 'value="59.00"' in page
    listing = superuser_client.get("/admin/catalog/addon/").content.decode()
    assert "59.00 USD" in listing
    assert "(cents)" not in listing


def test_a_yen_version_takes_whole_yen(superuser_client, catalog_items):
    plan = catalog.create_plan(code="tokyo", name="Tokyo")
    response = superuser_client.post(
        "/admin/catalog/planversion/add/",
        {
            "plan": plan.pk,
            "price_cents": "1500",
            "currency": "JPY",
            "interval": "month",
            "included_quotas": "{}",
            "trial_days": "0",
            "trial_end_behavior": "activate",
        },
    )
    assert response.status_code == 302
    assert PlanVersion.objects.get(plan=plan).price_cents == 1500
    response = superuser_client.post(
        "/admin/catalog/planversion/add/",
        {
            "plan": plan.pk,
            "price_cents": "1500.50",
            "currency": "JPY",
            "interval": "month",
            "included_quotas": "{}",
            "trial_days": "0",
            "trial_end_behavior": "activate",
        },
    )
    assert response.status_code == 200
    assert "JPY has no minor unit" in response.content.decode()
    assert PlanVersion.objects.filter(plan=plan).count() == 1
    listing = superuser_client.get("/admin/catalog/planversion/").content.decode()
    assert "1,500 JPY" in listing


def test_the_subscription_list_shows_formatted_prices(billing_client, catalog_items, tenant_a):
    subscribe(make_deployment(tenant_a, slug="shop"), "team", "seats_5")
    page = billing_client.get("/admin/subscriptions/subscription/").content.decode()
    assert "199.00 USD" in page
    assert "19900" not in page
    assert "(cents)" not in page
    subscription_page = billing_client.get(
        "/admin/subscriptions/subscription/"
        f"{PlanVersion.objects.get(plan__code='team').subscriptions.get().pk}/change/"
    ).content.decode()
    assert "25.00 USD" in subscription_page
