"""The cursor codec: opaque, URL-safe, versioned, one spelling per position."""

from __future__ import annotations

import base64

import pytest

from feed.cursor import Anchor, decode_cursor, encode_cursor, parse_after
from feed.errors import BadFeedQuery


@pytest.mark.parametrize("position", [0, 1, 9, 10, 12345, 2**63 - 1])
def test_round_trip(position):
    cursor = encode_cursor(position)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(cursor) == position


def test_the_encoding_is_base64url_of_version_and_position():
    assert encode_cursor(42) == base64.urlsafe_b64encode(b"1:42").decode().rstrip("=")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        "MTo0Mg==",  # padding: not what encode_cursor produces
        "%00",
        "\x00",
        "MTo0Mg\x00",
        "é",
        _b64(b"2:42"),  # unknown version
        _b64(b"1:-1"),
        _b64(b"1:+1"),
        _b64(b"1:042"),  # leading zero: a second spelling of 42
        _b64(b"1: 42"),
        _b64(b"1:42\n"),
        _b64(b"1:"),
        _b64(b"1:9223372036854775808"),  # past bigint
        _b64(b"1:99999999999999999999"),
        _b64(b"\xff\xfe"),
        "A" * 65,
        "A",  # not base64 of anything
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
