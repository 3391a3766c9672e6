"""Money in admin forms: typed in the currency's major unit, stored in minor units.

An operator types "59.00" for fifty-nine dollars and "1500" for fifteen
hundred yen; the form turns it into integer minor units (5900, 1500) with
`arcadia_cloud.money.parse_major`, which knows each currency's ISO 4217
exponent and refuses more decimals than the currency has. What is shown comes
from `arcadia_cloud.money.format_money`, the product's one format.
"""

from __future__ import annotations

from django import forms

from arcadia_cloud.money import exponent, format_money, parse_major


def major_text(minor: int, currency: str) -> str:
    """`minor` units as an operator would type them: (5900, "USD") -> "59.00"."""
    try:
        return format_money(minor, currency).rsplit(" ", 1)[0]
    except ValueError:  # an unknown currency: show what is stored
        return str(minor)


def money_or_dash(minor, currency) -> str:
    if minor is None or not currency:
        return "—"
    try:
        return format_money(int(minor), currency)
    except ValueError:
        return f"{minor} (minor units of {currency})"


class MajorUnitsPriceForm(forms.ModelForm):
    """A ModelForm whose `price_cents` is typed in major units of the form's
    `currency`. The field keeps the model's name, so the instance receives the
    minor units `clean()` computed."""

    price_cents = forms.CharField(
        label="Price",
        max_length=40,
        help_text=(
            "In the currency's major unit, with its decimals: 59.00 USD, 1500 JPY, 1.250 BHD. "
            "Stored exactly, in minor units."
        ),
        widget=forms.TextInput(attrs={"class": "money-input", "inputmode": "decimal"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance is not None and instance.pk and "price_cents" in self.fields:
            self.initial["price_cents"] = major_text(instance.price_cents, instance.currency)

    def clean(self):
        data = super().clean()
        if "price_cents" not in self.fields:
            return data
        text = data.get("price_cents")
        currency = data.get("currency") or getattr(self.instance, "currency", None)
        if text is None or "currency" in self.errors:
            return data
        try:
            exponent(currency)
        except ValueError:
            self.add_error(
                "currency", f"{currency!r} is not an ISO 4217 currency with a minor unit."
            )
            return data
        try:
            data["price_cents"] = parse_major(text, currency)
        except ValueError as exc:
            self.add_error("price_cents", str(exc))
        return data
