"""The cursor codec: opaque, URL-safe, versioned, one spelling per position, and
exactly what its published pattern says."""

from __future__ import annotations

import re

import pytest

from feed.cursor import CURSOR_PATTERN, Anchor, decode_cursor, encode_cursor, parse_after
from feed.errors import BadFeedQuery


@pytest.mark.parametrize("position", [0, 1, 9, 10, 12345, 10**18 - 1])
def test_round_trip(position):
    cursor = encode_cursor(position)
    assert re.fullmatch(CURSOR_PATTERN, cursor)
    assert decode_cursor(cursor) == position


def test_the_encoding_is_version_dot_position():
    assert encode_cursor(42) == "1.42"


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        "MTo0Mg",  # an old base64 spelling
        "%00",
        "\x00",
        "1.42\x00",
        "é",
        "2.42",  # unknown version
        "1.-1",
        "1.+1",
        "1.042",  # leading zero: a second spelling of 42
        "1. 42",
        "1.42\n",
        "1.",
        "1.9223372036854775808",  # past bigint
        "1.99999999999999999999",
        "A" * 65,
        "A",
    ],
)
def test_malformed_cursors_are_refused_with_the_parameter_named(cursor):
    with pytest.raises(BadFeedQuery) as refused:
        decode_cursor(cursor)
    assert refused.value.body() == {
        "error": "bad_request",
        "detail": {"after": [refused.value.message]},
    }


def test_anchors():
    assert parse_after(None) is Anchor.OLDEST
    assert parse_after("") is Anchor.OLDEST
    assert parse_after("now") is Anchor.HEAD
    assert parse_after(encode_cursor(7)) == 7
    with pytest.raises(BadFeedQuery):
        parse_after("NOW")


@pytest.mark.parametrize("cursor", ["now", "1.0", "1.7", "1.123456789012345678"])
def test_every_cursor_the_pattern_admits_is_read(cursor):
    assert re.fullmatch(CURSOR_PATTERN, cursor)
    parse_after(cursor)
