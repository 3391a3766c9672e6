"""arcadia_cloud.money: ISO 4217 exponents, the one format, parsing typed amounts, and the
exact integer arithmetic statements are made of."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from iso4217 import Currency

from arcadia_cloud.money import MAX_MINOR, allocate, exponent, format_money, parse_major, prorate
from tests.billing.fuzz import FUZZ

WITH_MINOR_UNIT = sorted(c.code for c in Currency if c.exponent is not None)


# --- exponents ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "digits"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("GBP", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("CLP", 0),
        ("VND", 0),
        ("BHD", 3),
        ("KWD", 3),
        ("TND", 3),
        ("CLF", 4),
    ],
)
def test_exponent_is_the_iso_minor_unit(currency, digits):
    assert exponent(currency) == digits


@pytest.mark.parametrize(
    ("currency", "digits"),
    # Where CLDR (babel) says 0 display digits, ISO 4217 keeps the minor unit: amounts
    # are stored by ISO, so 1 IQD is 1000 minor units here, not 1.
    [("IQD", 3), ("RSD", 2), ("IRR", 2), ("LBP", 2), ("YER", 2), ("AFN", 2), ("MMK", 2)],
)
def test_exponent_follows_iso_where_cldr_differs(currency, digits):
    assert exponent(currency) == digits


def test_every_currency_with_a_minor_unit_has_exponent_0_to_4():
    assert len(WITH_MINOR_UNIT) > 150
    assert {exponent(code) for code in WITH_MINOR_UNIT} == {0, 2, 3, 4}


@pytest.mark.parametrize("currency", ["ZZZ", "usd", "US", "USDX", "", "XAU", "XXX", "XDR", None])
def test_an_unknown_currency_or_one_without_minor_unit_is_refused(currency):
    with pytest.raises(ValueError, match="not an ISO 4217 currency code with a minor unit"):
        exponent(currency)


# --- format ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (150_000, "JPY", "150,000 JPY"),
        (1_500, "JPY", "1,500 JPY"),
        (0, "JPY", "0 JPY"),
        (19_900, "USD", "199.00 USD"),
        (123_456_789, "USD", "1,234,567.89 USD"),
        (5, "USD", "0.05 USD"),
        (0, "USD", "0.00 USD"),
        (-350, "USD", "-3.50 USD"),
        (-1, "EUR", "-0.01 EUR"),
        (1_250, "BHD", "1.250 BHD"),
        (1_234_567, "KWD", "1,234.567 KWD"),
        (-150_000, "KRW", "-150,000 KRW"),
        (12_345, "CLF", "1.2345 CLF"),
    ],
)
def test_format_money(minor, currency, shown):
    assert format_money(minor, currency) == shown


@pytest.mark.parametrize("minor", [1.5, "100", None, True])
def test_format_money_takes_integers_only(minor):
    with pytest.raises(TypeError):
        format_money(minor, "USD")


# --- parse -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("59.00", "USD", 5_900),
        ("59", "USD", 5_900),
        ("59.5", "USD", 5_950),
        ("0.05", "USD", 5),
        ("1,500", "USD", 150_000),
        ("1,234,567.89", "USD", 123_456_789),
        ("  199.00 USD ", "USD", 19_900),
        ("199.00 usd", "USD", 19_900),
        ("1,500", "JPY", 1_500),
        ("150,000 JPY", "JPY", 150_000),
        ("1.25", "BHD", 1_250),
        ("1.250 BHD", "BHD", 1_250),
        ("0", "USD", 0),
        ("-0", "USD", 0),
        ("007", "USD", 700),
    ],
)
def test_parse_major(text, currency, minor):
    assert parse_major(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("59.001", "USD", "USD amounts have at most 2 decimals"),
        ("1.5", "JPY", "JPY has no minor unit: enter a whole number"),
        ("1,500.00", "JPY", "JPY has no minor unit"),
        ("1.2345", "BHD", "BHD amounts have at most 3 decimals"),
        ("59,00", "USD", "is not an amount"),  # a decimal comma is refused, not guessed
        ("1,50,000", "USD", "is not an amount"),
        ("1.500,00", "USD", "is not an amount"),
        ("NaN", "USD", "is not an amount"),
        ("nan", "USD", "is not an amount"),
        ("Infinity", "USD", "is not an amount"),
        ("-inf", "USD", "is not an amount"),
        ("1e3", "USD", "is not an amount"),
        ("0x10", "USD", "is not an amount"),
        ("$5", "USD", "is not an amount"),
        ("+5", "USD", "is not an amount"),
        (".50", "USD", "is not an amount"),
        ("5.", "USD", "is not an amount"),
        ("", "USD", "is not an amount"),
        ("   ", "USD", "is not an amount"),
        ("٥٩", "USD", "is not an amount"),  # digits of another script
        ("5 9", "USD", "is not an amount"),
        ("9" * 10_000, "USD", "is not an amount"),
        ("5.00 EUR", "USD", "The amount is in EUR, but this price is in USD"),
        ("-3.50", "USD", "must not be negative"),
        ("21,474,836.48", "USD", r"too large: at most 21,474,836\.47 USD"),
        ("99999999999999999999999999999999999", "USD", "too large"),
        ("59.00", "XXX", "not an ISO 4217 currency code"),
    ],
)
def test_parse_major_refuses_with_a_human_message(text, currency, message):
    with pytest.raises(ValueError, match=message):
        parse_major(text, currency)


def test_parse_major_takes_negative_amounts_when_allowed_and_its_own_bound():
    assert parse_major("-3.50", "USD", allow_negative=True) == -350
    assert parse_major("-3.50 USD", "USD", allow_negative=True) == -350
    assert parse_major(f"{MAX_MINOR:,}", "JPY") == MAX_MINOR
    assert parse_major("10.00", "USD", max_minor=1_000) == 1_000
    with pytest.raises(ValueError, match=r"too large: at most 10\.00 USD"):
        parse_major("10.01", "USD", max_minor=1_000)
    with pytest.raises(ValueError, match="too large"):
        parse_major(f"-{MAX_MINOR + 1:,}", "JPY", allow_negative=True)


@pytest.mark.parametrize("currency", WITH_MINOR_UNIT)
def test_format_then_parse_gives_the_amount_back_for_every_iso_currency(currency):
    for minor in (0, 1, 9, 10, 99, 100, 101, 999, 1_000, 1_001, 123_456_789, MAX_MINOR):
        for signed in (minor, -minor):
            shown = format_money(signed, currency)
            assert parse_major(shown, currency, allow_negative=True) == signed
            number = shown.removesuffix(f" {currency}")
            assert parse_major(number, currency, allow_negative=True) == signed


@FUZZ
@given(st.sampled_from(WITH_MINOR_UNIT), st.integers(-MAX_MINOR, MAX_MINOR))
def test_format_then_parse_round_trips(currency, minor):
    assert parse_major(format_money(minor, currency), currency, allow_negative=True) == minor


@FUZZ
@given(st.sampled_from(["USD", "JPY", "BHD", "CLF"]), st.text(max_size=20))
def test_parse_major_returns_an_int_or_raises_value_error(currency, text):
    try:
        minor = parse_major(text, currency, allow_negative=True)
    except ValueError:
        return
    assert isinstance(minor, int)
    assert abs(minor) <= MAX_MINOR


# --- prorate -----------------------------------------------------------------------------


def half_even(value: Fraction) -> int:
    return round(value)  # Fraction rounds half to even


@FUZZ
@given(st.integers(-(10**12), 10**12), st.integers(0, 10**7), st.integers(1, 10**7))
def test_prorate_is_the_exact_fraction_rounded_half_to_even(unit, numerator, denominator):
    assert prorate(unit, numerator, denominator) == half_even(
        Fraction(unit * numerator, denominator)
    )


@FUZZ
@given(st.integers(0, 10**12), st.integers(1, 10**8))
def test_prorate_over_the_whole_is_the_unit(unit, denominator):
    assert prorate(unit, denominator, denominator) == unit
    assert prorate(unit, 0, denominator) == 0


@pytest.mark.parametrize(
    ("unit", "numerator", "denominator", "amount"),
    [
        (1, 1, 2, 0),  # 0.5 -> 0 (even)
        (3, 1, 2, 2),  # 1.5 -> 2 (even)
        (5, 1, 2, 2),  # 2.5 -> 2
        (-5, 1, 2, -2),  # -2.5 -> -2
        (-3, 1, 2, -2),  # -1.5 -> -2
        (1999, 2_289_600, 2_419_200, 1892),  # 26.5 days of February at 19.99
        (10, 1, 3, 3),
        (20, 1, 3, 7),
    ],
)
def test_prorate_examples(unit, numerator, denominator, amount):
    assert prorate(unit, numerator, denominator) == amount


def test_prorate_refuses_a_non_positive_denominator():
    with pytest.raises(ValueError, match="positive denominator"):
        prorate(100, 1, 0)


# --- allocate ----------------------------------------------------------------------------


def reference_allocation(total: int, weights: list[int]) -> list[int]:
    shares = [Fraction(total * w, sum(weights)) for w in weights]
    floors = [s.numerator // s.denominator for s in shares]
    order = sorted(range(len(weights)), key=lambda i: (floors[i] - shares[i], i))
    for i in order[: total - sum(floors)]:
        floors[i] += 1
    return floors


weights = st.lists(st.integers(0, 10**6), min_size=1, max_size=12).filter(any)


@FUZZ
@given(st.integers(-(10**9), 10**9), weights)
def test_allocate_sums_exactly_and_each_part_is_floor_or_ceiling(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total
    for part, weight in zip(parts, weights, strict=True):
        share = Fraction(total * weight, sum(weights))
        assert share - 1 < part < share + 1
        if share.denominator == 1:
            assert part == share
    assert parts == allocate(total, list(weights))  # deterministic
    assert parts == reference_allocation(total, weights)


def test_allocate_breaks_ties_earliest_first_and_gives_zero_weights_nothing():
    assert allocate(2, [1, 1, 1]) == [1, 1, 0]
    assert allocate(1, [0, 1, 1]) == [0, 1, 0]
    assert allocate(10, [1, 1, 1]) == [4, 3, 3]
    assert allocate(-10, [1, 1, 1]) == [-3, -3, -4]
    assert allocate(100, [3, 0, 7]) == [30, 0, 70]
    assert allocate(0, [0, 0]) == [0, 0]
    assert allocate(0, []) == []


def test_allocate_refuses_negative_or_all_zero_weights():
    with pytest.raises(ValueError, match="non-negative weights"):
        allocate(10, [1, -1])
    with pytest.raises(ValueError, match="zero weights"):
        allocate(10, [0, 0])
    with pytest.raises(ValueError, match="zero weights"):
        allocate(10, [])
