"""The feed cursor: an opaque, URL-safe string naming a position.

`1.<position>`: the leading version lets the encoding change later while
old cursors keep working (or fail loudly); clients treat it as opaque. Its
exact shape is published (`CURSOR_PATTERN`), so a schema-valid cursor is
always one the server reads. A
cursor means "I have seen everything up to this position". Two anchors are
not positions: no cursor (start at the oldest retained event) and `now`
(start at the head: only what commits from here on).
"""

from __future__ import annotations

import enum
import re

from feed.errors import BadFeedQuery

VERSION = "1"
HEAD_KEYWORD = "now"
#: 18 digits at most: every such number fits the bigint column.
_POSITION = r"(0|[1-9][0-9]{0,17})"
_CURSOR = re.compile(rf"{VERSION}\.{_POSITION}")
#: What `after` accepts, for the OpenAPI document.
CURSOR_PATTERN = rf"^({HEAD_KEYWORD}|{VERSION}\.{_POSITION})$"


class Anchor(enum.Enum):
    OLDEST = "oldest"  # no cursor: the oldest retained event
    HEAD = "head"  # `now`: after the newest committed event


def encode_cursor(position: int) -> str:
    return f"{VERSION}.{position}"


def decode_cursor(text: str, *, parameter: str = "after") -> int:
    """The position a cursor names; `BadFeedQuery` for anything else.

    Strict: exactly what `encode_cursor` produces (one spelling per position),
    so a mangled or hand-made cursor is refused rather than misread."""
    match = _CURSOR.fullmatch(text or "")
    if match is None:
        raise BadFeedQuery(
            parameter, "Malformed cursor: use a next_cursor from the feed, or 'now'."
        )
    return int(match.group(1))


def parse_after(raw: str | None) -> int | Anchor:
    """The `after` query parameter: absent or empty, `now`, or a cursor."""
    if raw is None or raw == "":
        return Anchor.OLDEST
    if raw == HEAD_KEYWORD:
        return Anchor.HEAD
    return decode_cursor(raw)
