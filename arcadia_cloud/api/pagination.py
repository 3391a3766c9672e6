"""Pagination: `limit` (default 50, max 500) with offset or an opaque cursor.

The list key is the resource's plural (`deployments`, `events`), set on the
view as `results_key`; `count` is present where the page is offset-based."""

from __future__ import annotations

import re
from collections import OrderedDict

from rest_framework import pagination
from rest_framework.response import Response

from arcadia_cloud.api.exceptions import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# A cursor's position is the id of the last row seen (a bigint).
_POSITION = re.compile(r"[0-9]{1,19}")
_MAX_POSITION = 2**63 - 1


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
    if value < 0 or value > 10**9:
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

    def decode_cursor(self, request):
        from rest_framework.exceptions import NotFound

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
