"""Pagination: `limit` (default 50, max 500) with offset or an opaque cursor.

The list key is the resource's plural (`deployments`, `events`), set on the
view as `results_key`; `count` is present where the page is offset-based."""

from __future__ import annotations

import re
from collections import OrderedDict
from urllib import parse

from rest_framework import pagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from arcadia_cloud.api.exceptions import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 10**9
# A cursor's position is the id of the last row seen (a bigint).
_POSITION = re.compile(r"[0-9]{1,19}")
_MAX_POSITION = 2**63 - 1
#: A cursor the server writes: `n<id>` (the rows after that id) or `r<id>` (the
#: rows before it). The shape is published, so a client or a fuzzer can tell a
#: cursor from junk, but a client takes it from `next` / `previous`.
CURSOR_PATTERN = r"^[nr][0-9]{1,18}$"
_CURSOR = re.compile(r"([nr])([0-9]{1,18})")


def limit_schema() -> dict:
    return {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}


CURSOR_SCHEMA = {"type": "string", "pattern": CURSOR_PATTERN}
CURSOR_DESCRIPTION = (
    "Take it from `next` or `previous` of an earlier page: `n<id>` pages forward "
    "from that event, `r<id>` backward. Anything else is a 400."
)
LIMIT_DESCRIPTION = f"Rows per page, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT})."


def limit_parameter() -> dict:
    """`limit` as the OpenAPI document describes it: what `parse_limit` accepts."""
    return {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": LIMIT_DESCRIPTION,
        "schema": limit_schema(),
    }


def parse_limit(request, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest({"limit": [f"Must be an integer between 1 and {maximum}."]}) from None
    if not 1 <= value <= maximum:
        raise BadRequest({"limit": [f"Must be an integer between 1 and {maximum}."]})
    return value


def parse_offset(request) -> int:
    raw = request.query_params.get("offset")
    if raw is None or raw == "":
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest({"offset": ["Must be a non-negative integer."]}) from None
    if value < 0 or value > MAX_OFFSET:
        raise BadRequest({"offset": ["Must be a non-negative integer."]})
    return value


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    default_limit = DEFAULT_LIMIT
    max_limit = MAX_LIMIT

    def get_limit(self, request):
        return parse_limit(request)

    def get_offset(self, request):
        return parse_offset(request)

    def get_paginated_response(self, data):
        key = getattr(self.view, "results_key", "results")
        return Response(
            OrderedDict(
                [
                    (key, data),
                    ("count", self.count),
                    ("next", self.get_next_link()),
                    ("previous", self.get_previous_link()),
                ]
            )
        )

    def paginate_queryset(self, queryset, request, view=None):
        self.view = view
        return super().paginate_queryset(queryset, request, view)

    # DRF's links, the same URLs (the request's, `limit` set, `offset` set or
    # dropped at 0, the query sorted), built in one pass over the URL instead of two.
    def get_next_link(self):
        if self.offset + self.limit >= self.count:
            return None
        return self._link(self.offset + self.limit)

    def get_previous_link(self):
        if self.offset <= 0:
            return None
        return self._link(max(self.offset - self.limit, 0))

    def _link(self, offset: int) -> str:
        scheme, netloc, path, query, fragment = parse.urlsplit(self.request.build_absolute_uri())
        params = parse.parse_qs(query, keep_blank_values=True)
        params[self.limit_query_param] = [str(self.limit)]
        if offset > 0:
            params[self.offset_query_param] = [str(offset)]
        else:
            params.pop(self.offset_query_param, None)
        query = parse.urlencode(sorted(params.items()), doseq=True)
        return parse.urlunsplit((scheme, netloc, path, query, fragment))

    def bounds(self, request, view) -> tuple[int, int]:
        """(limit, offset) asked for, for a view that reads its page and its
        count itself (then `counted_response`); the same 400s."""
        self.request, self.view = request, view
        self.limit, self.offset = self.get_limit(request), self.get_offset(request)
        return self.limit, self.offset

    def counted_response(self, rows: list, count: int):
        """The page response for rows read after `bounds`, of `count` in all."""
        self.count = count
        return self.get_paginated_response(rows)

    def get_schema_operation_parameters(self, view):
        return [
            limit_parameter(),
            {
                "name": "offset",
                "in": "query",
                "required": False,
                "description": "Rows to skip (default 0).",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
            },
        ]

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "next", "previous"],
            "properties": {
                "count": {"type": "integer"},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
            },
        }


class CursorPagination(pagination.CursorPagination):
    """Stable paging over append-only histories: `?cursor=` is opaque."""

    page_size = DEFAULT_LIMIT
    max_page_size = MAX_LIMIT
    ordering = ("id",)

    def get_page_size(self, request):
        return parse_limit(request)

    def encode_cursor(self, cursor):
        # Positions are unique ids, so DRF never needs its offset here; the
        # general (base64) form stays for anything else.
        position = cursor.position
        if cursor.offset == 0 and position is not None and _CURSOR.fullmatch(f"n{position}"):
            token = f"{'r' if cursor.reverse else 'n'}{position}"
            return replace_query_param(self.base_url, self.cursor_query_param, token)
        return super().encode_cursor(cursor)

    def decode_cursor(self, request):
        from rest_framework.exceptions import NotFound

        compact = _CURSOR.fullmatch(request.query_params.get(self.cursor_query_param) or "")
        if compact is not None:
            direction, position = compact.groups()
            return pagination.Cursor(
                offset=0, reverse=direction == "r", position=str(int(position))
            )
        # DRF's own base64 form: what earlier versions wrote, still read.
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise BadRequest({"cursor": ["Invalid cursor."]}) from None
        if cursor is None or cursor.position is None:
            return cursor
        # DRF checks the offset and direction but hands the position to the
        # queryset as it came: one the server never wrote ("abc", "1.5", "")
        # would fail in the database driver. Positions are ids (integers).
        if not _POSITION.fullmatch(cursor.position) or int(cursor.position) > _MAX_POSITION:
            raise BadRequest({"cursor": ["Invalid cursor."]})
        return cursor._replace(position=str(int(cursor.position)))

    def paginate_queryset(self, queryset, request, view=None):
        self.view = view
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "in": "query",
                "required": False,
                "description": CURSOR_DESCRIPTION,
                "schema": dict(CURSOR_SCHEMA),
            },
            limit_parameter(),
        ]

    def get_paginated_response(self, data):
        key = getattr(self.view, "results_key", "results")
        return Response(
            OrderedDict(
                [
                    (key, data),
                    ("next", self.get_next_link()),
                    ("previous", self.get_previous_link()),
                ]
            )
        )
