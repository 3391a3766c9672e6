"""The feed cursor: an opaque, URL-safe string naming a position.

`base64url("1:<position>")` without padding: the leading version lets the
encoding change later while old cursors keep working (or fail loudly). A
cursor means "I have seen everything up to this position". Two anchors are
not positions: no cursor (start at the oldest retained event) and `now`
(start at the head: only what commits from here on).
"""

from __future__ import annotations

import base64
import binascii
import enum
import re

from feed.errors import BadFeedQuery

VERSION = "1"
HEAD_KEYWORD = "now"
MAX_POSITION = 2**63 - 1  # bigint
MAX_CURSOR_LENGTH = 64

_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
_PAYLOAD = re.compile(r"1:(0|[1-9][0-9]{0,18})")


class Anchor(enum.Enum):
    OLDEST = "oldest"  # no cursor: the oldest retained event
    HEAD = "head"  # `now`: after the newest committed event


def encode_cursor(position: int) -> str:
    raw = f"{VERSION}:{position}".encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(text: str, *, parameter: str = "after") -> int:
    """The position a cursor names; `BadFeedQuery` for anything else.

    Strict: exactly what `encode_cursor` produces (one spelling per position),
    so a mangled or hand-made cursor is refused rather than misread."""
    malformed = BadFeedQuery(
        parameter, "Malformed cursor: use a next_cursor from the feed, or 'now'."
    )
    if not text or len(text) > MAX_CURSOR_LENGTH or not _ALPHABET.fullmatch(text):
        raise malformed
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise malformed from None
    match = _PAYLOAD.fullmatch(raw)
    if match is None:
        raise malformed
    position = int(match.group(1))
    if position > MAX_POSITION or encode_cursor(position) != text:
        raise malformed
    return position


def parse_after(raw: str | None) -> int | Anchor:
    """The `after` query parameter: absent or empty, `now`, or a cursor."""
    if raw is None or raw == "":
        return Anchor.OLDEST
    if raw == HEAD_KEYWORD:
        return Anchor.HEAD
    return decode_cursor(raw)
