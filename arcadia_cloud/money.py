"""Money as integer minor units of an ISO 4217 currency: exponents, one format, exact arithmetic.

Every amount the product stores, computes or exports is an ``int`` of the currency's minor
unit (cents for USD, yen for JPY, fils for BHD). Major units (``"59.00"``) exist only at the
edges: ``parse_major`` turns what a person typed into minor units, ``format_money`` turns
minor units into what a person reads. Nothing here uses ``float``, and nothing depends on a
``decimal`` context: the arithmetic is on Python integers, which are exact at any size.

Where the exponents come from
-----------------------------
``exponent()`` reads the ISO 4217 list itself (list one, as published by the maintenance
agency), shipped by the ``iso4217`` package; the package's version names the list's
publication date (``1.16.20260101``: the list of 2026-01-01), so a new ISO amendment arrives
as a package upgrade, not as an edit here.

The other candidates were checked code by code against that list:

- ``babel.numbers.get_currency_precision`` follows CLDR, whose "digits" are what locales
  *display* (cash practice), not ISO's minor unit. It gives 0 where ISO gives 2 for AFN,
  ALL, IRR, KPW, LAK, LBP, MGA, MMK, RSD, SOS, SYP and YER, and 0 where ISO gives 3 for IQD;
  it gives 2 for the X codes ISO marks "N.A." (XAU, XDR, XXX, ...), and it returns 2 for a
  code it does not know instead of refusing. A billing system that stored 1,500 IQD as
  1,500 minor units under CLDR and 1,500,000 under ISO would misstate invoices by 1000x.
- ``py-moneyed`` 3.0 (its latest release, 2022) agrees with ISO on every exponent it knows
  but lacks the codes added since (XAD, XCG, ZWG).
- ``pycountry`` carries ISO 4217 codes and names but no minor units.

So ISO's list is the source, and an unknown code, or one without a minor unit (precious
metals, SDR, the testing code), is refused: such a currency cannot price a plan.

The one format
--------------
``format_money`` renders ``[-]<major with "," every three digits>[.<exactly exponent
digits>] <CODE>``: ``"199.00 USD"``, ``"150,000 JPY"``, ``"1.250 BHD"``, ``"-3.50 USD"``. It
is the same in every locale and place (admin, dashboard, exports): the code after the
number names the currency without a symbol's ambiguity ("$" is a dozen currencies), the
decimal count is always the currency's exponent (so "1.250 BHD" is one dinar and a quarter,
never "1,250"), the separator is always "," for thousands and "." for decimals, and the sign
is an ASCII hyphen-minus so that spreadsheets and CSV readers take it as a number.
``parse_major`` reads that format back (with or without the code).
"""

from __future__ import annotations

import re

from iso4217 import Currency

__all__ = ["MAX_MINOR", "allocate", "exponent", "format_money", "parse_major", "prorate"]

#: The largest amount ``parse_major`` accepts by default: the largest value of the integer
#: price columns (a PostgreSQL ``integer``), so an accepted amount can always be stored.
MAX_MINOR = 2**31 - 1

# Built once: the enum lookup costs more than a dict hit, and exponents are read per line.
_EXPONENTS: dict[str, int] = {c.code: c.exponent for c in Currency if c.exponent is not None}

# [-]digits (either plain, or grouped by "," in threes), optional ".digits", optional code.
# ASCII digits only: str.isdigit/int() also accept other scripts' digits.
_AMOUNT = re.compile(
    r"(?P<sign>-)?"
    r"(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)"
    r"(?:\.(?P<frac>[0-9]+))?"
    r"(?:\s+(?P<code>[A-Za-z]{3}))?",
    re.ASCII,
)


def exponent(currency: str) -> int:
    """The ISO 4217 minor-unit exponent of ``currency``: USD 2, JPY 0, BHD 3, CLF 4.

    Raises ValueError for a code that is not in ISO 4217 (codes are upper case, as stored)
    or that has no minor unit (XAU, XDR, XXX, ...).
    """
    try:
        return _EXPONENTS[currency]
    except (KeyError, TypeError):
        raise ValueError(
            f"{currency!r} is not an ISO 4217 currency code with a minor unit"
        ) from None


def format_money(minor: int, currency: str) -> str:
    """``minor`` units of ``currency`` for people: ``(19900, "USD")`` -> ``"199.00 USD"``.

    See the module docstring for the format; ``(150000, "JPY")`` -> ``"150,000 JPY"``,
    ``(1250, "BHD")`` -> ``"1.250 BHD"``, ``(-350, "USD")`` -> ``"-3.50 USD"``.
    """
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise TypeError(f"money is an int of minor units, not {type(minor).__name__}")
    digits = exponent(currency)
    sign = "-" if minor < 0 else ""
    if digits == 0:
        return f"{sign}{abs(minor):,} {currency}"
    whole, frac = divmod(abs(minor), 10**digits)
    return f"{sign}{whole:,}.{frac:0{digits}d} {currency}"


def parse_major(
    text: str, currency: str, *, allow_negative: bool = False, max_minor: int = MAX_MINOR
) -> int:
    """An amount typed in major units -> exact minor units: ``("59.00", "USD")`` -> ``5900``.

    Accepts ``"59"``, ``"59.5"``, ``"59.00"``, ``"1,500"``, ``"1,500.25"`` and the output of
    ``format_money`` (``"1,500.25 USD"``; a code, when given, must be ``currency``).
    Thousands separators must group by three ("59,00" is refused rather than guessed: it is
    59.00 in half the world's locales). Raises ValueError, with a message for the person
    who typed it, for anything else: more decimals than the currency has (even zeros:
    "1,500.00" is not a JPY amount), other characters, NaN or Infinity, exponents ("1e3"),
    a negative amount unless ``allow_negative``, or more than ``max_minor`` in magnitude.
    """
    digits = exponent(currency)
    cleaned = text.strip() if isinstance(text, str) else ""
    match = _AMOUNT.fullmatch(cleaned) if len(cleaned) <= 64 else None
    if match is None:
        shown = cleaned if len(cleaned) <= 64 else cleaned[:24] + "..."
        raise ValueError(
            f"{shown!r} is not an amount: use digits, optional ',' between thousands and "
            f"'.' before decimals, e.g. {format_money(5900 * 10**digits // 100, currency)}"
        )
    code = match["code"]
    if code is not None and code.upper() != currency:
        raise ValueError(f"The amount is in {code.upper()}, but this price is in {currency}.")
    frac = match["frac"] or ""
    if len(frac) > digits:
        if digits == 0:
            raise ValueError(f"{currency} has no minor unit: enter a whole number, not {text!r}.")
        raise ValueError(f"{currency} amounts have at most {digits} decimals, not {text!r}.")
    whole = match["whole"].replace(",", "")
    if len(whole.lstrip("0")) > len(str(max_minor)):
        raise ValueError(f"The amount is too large: at most {format_money(max_minor, currency)}.")
    minor = int(whole) * 10**digits + int(frac.ljust(digits, "0") or 0)
    if match["sign"]:
        if not allow_negative and minor != 0:
            raise ValueError(f"The amount must not be negative, not {text!r}.")
        minor = -minor
    if abs(minor) > max_minor:
        raise ValueError(f"The amount is too large: at most {format_money(max_minor, currency)}.")
    return minor


def prorate(unit_minor: int, numerator: int, denominator: int) -> int:
    """``unit_minor * numerator / denominator`` rounded half to even, in exact integers.

    Used for "price x billable seconds / seconds in the period": a fraction of 1 (whole
    period) returns ``unit_minor`` exactly; an exact half goes to the even neighbour, so
    rounding carries no bias up or down across many lines.
    """
    if denominator <= 0:
        raise ValueError("prorate needs a positive denominator")
    quotient, remainder = divmod(unit_minor * numerator, denominator)
    # divmod floors, so 0 <= remainder < denominator whatever the signs: compare the
    # remainder with half the denominator without dividing.
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        return quotient + 1
    return quotient


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` so that the parts sum exactly to it.

    Largest remainder (Hamilton's method): each part starts as the floor of its exact share
    ``total * w / sum(weights)``; the units left over go one each to the parts with the
    largest fractional remainders, ties to the earliest part. So every part is the floor or
    the ceiling of its exact share (a part with weight 0 gets 0, a share that is a whole
    number gets exactly it), the parts sum to ``total``, and the result depends only on the
    arguments. Weights are non-negative integers, at least one positive unless ``total`` is 0.
    """
    weight_sum = sum(weights)
    if weights and min(weights) < 0:
        raise ValueError("allocate needs non-negative weights")
    if weight_sum == 0:
        if total != 0:
            raise ValueError("allocate cannot split a non-zero total over zero weights")
        return [0] * len(weights)
    parts = []
    remainders = []
    for w in weights:
        part, remainder = divmod(total * w, weight_sum)
        parts.append(part)
        remainders.append(remainder)
    left = total - sum(parts)  # 0 <= left < len(weights): each floor lost less than 1
    if left:
        # Largest remainders first; the sort is stable (also reversed), so among equal
        # remainders the earliest part comes first.
        by_remainder = sorted(range(len(weights)), key=remainders.__getitem__, reverse=True)
        for i in by_remainder[:left]:
            parts[i] += 1
    return parts
