"""`GET /api/v1/events`: the ordered feed of everything that happened.

Parse the query (every malformed value is a 400 naming its parameter), scope
it to the caller, read through `feed.selectors.read_feed` (long-polling with
`wait`), render CloudEvents envelopes (as JSON text: the events' stored data
is embedded, not decoded and re-encoded; the serializers below describe the
shape for the OpenAPI document).
"""

from __future__ import annotations

import re
from uuid import UUID

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from arcadia_cloud.actors import Actor
from arcadia_cloud.api.pagination import parse_limit
from arcadia_cloud.api.permissions import allowed_to_controllers
from arcadia_cloud.errors import NotFound
from arcadia_cloud.scope import scope_for
from deployments.api.serializers import ErrorOut
from deployments.selectors import get_deployment_visible_to
from feed.cursor import CURSOR_PATTERN, Anchor, encode_cursor, parse_after
from feed.envelope import envelope_json
from feed.errors import BadFeedQuery
from feed.selectors import DEFAULT_LIMIT, MAX_LIMIT, FeedPage, read_feed
from feed.types import EVENT_TYPES, TYPES_PATTERN
from feed.waiting import MAX_WAIT_SECONDS, long_poll

#: A tenant id no tenant has (tenant ids are random UUIDs): the scope of a
#: caller whose filter cannot match anything it may see.
NO_TENANT = UUID(int=0)

_WAIT = re.compile(r"[0-9]{1,2}")
_UUID_MAX_LENGTH = 45  # the longest spelling uuid.UUID accepts ("urn:uuid:" + 36)


class FeedEventOut(serializers.Serializer):
    id = serializers.CharField(help_text="`evt_<n>`; the same on every read and delivery.")
    specversion = serializers.ChoiceField(choices=["1.0"])
    type = serializers.ChoiceField(choices=list(EVENT_TYPES))
    source = serializers.CharField(help_text="`/api/v1/deployments/<id>`, or `/api/v1`.")
    subject = serializers.UUIDField(allow_null=True, help_text="The deployment's id.")
    time = serializers.DateTimeField()
    tenant_id = serializers.UUIDField(allow_null=True)
    sequence = serializers.CharField(
        help_text="The feed position, zero-padded: compares in feed order as a string."
    )
    datacontenttype = serializers.ChoiceField(choices=["application/json"])
    data = serializers.DictField(help_text="The object's state after the fact.")


class FeedPageOut(serializers.Serializer):
    events = FeedEventOut(many=True)
    next_cursor = serializers.CharField(help_text="Pass as `after` to read on.")
    has_more = serializers.BooleanField()


class FeedView(APIView):
    # Controllers reconcile from the feed (every tenant's events).
    controller_may = allowed_to_controllers("get")

    @extend_schema(
        operation_id="events_feed",
        parameters=[
            OpenApiParameter(
                "after",
                {"type": "string", "pattern": CURSOR_PATTERN},
                description="A `next_cursor`, or `now` (only what commits from now on). "
                "Without it: from the oldest retained event.",
            ),
            OpenApiParameter(
                "types",
                {"type": "string", "pattern": TYPES_PATTERN},
                description="Comma-separated event types or prefixes ending in `*` (`resource.*`).",
            ),
            OpenApiParameter("deployment", {"type": "string", "format": "uuid"}),
            OpenApiParameter(
                "tenant_id",
                {"type": "string", "format": "uuid"},
                description="Platform admins: one tenant's events.",
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                description=f"1-{MAX_LIMIT}, default {DEFAULT_LIMIT}.",
            ),
            OpenApiParameter(
                "wait",
                {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
                description="Seconds to hold the request when nothing is after the cursor "
                "(long poll); default 0.",
            ),
        ],
        responses={
            200: FeedPageOut,
            400: OpenApiResponse(ErrorOut, description="A malformed parameter (named)"),
            404: OpenApiResponse(ErrorOut, description="No such deployment (or another tenant's)"),
            410: OpenApiResponse(ErrorOut, description="The cursor is older than retention"),
        },
    )
    def get(self, request):
        query = request.query_params
        after = parse_after(query.get("after"))
        types = _parse_types(query.get("types"))
        deployment_id = _parse_uuid("deployment", query.get("deployment"))
        tenant_filter = _parse_uuid("tenant_id", query.get("tenant_id"))
        limit = parse_limit(request, default=DEFAULT_LIMIT, maximum=MAX_LIMIT)
        wait = _parse_wait(query.get("wait"))

        actor = Actor.from_api_request(request)
        tenant_id = _tenant_scope(actor, tenant_filter)
        if deployment_id is not None and get_deployment_visible_to(actor, deployment_id) is None:
            raise NotFound()

        def read(position: int | Anchor) -> FeedPage:
            return read_feed(
                tenant_id=tenant_id,
                after=position,
                types=types,
                deployment_id=deployment_id,
                limit=limit,
            )

        page = long_poll(read, after=after, wait=wait)
        return HttpResponse(render_page(page), content_type="application/json")


def render_page(page: FeedPage) -> str:
    """`{"events": [...], "next_cursor", "has_more"}` as JSON text, the
    envelopes written by `envelope_json` (their data embedded as stored)."""
    events = ",".join(envelope_json(event) for event in page.events)
    cursor = encode_cursor(page.next_position)  # URL-safe base64: nothing to escape
    more = "true" if page.has_more else "false"
    return f'{{"events":[{events}],"next_cursor":"{cursor}","has_more":{more}}}'


def _tenant_scope(actor: Actor, tenant_filter: UUID | None) -> UUID | None:
    """The tenant whose events the caller reads; None for every tenant.

    The caller's scope (`scope_for`), as on the deployments list: whoever sees
    every tenant may filter by one; anyone else sees its own tenant, and another
    tenant's id is a filter that matches nothing (not an error: no existence
    oracle)."""
    scope = scope_for(actor)
    if scope.everything:
        return tenant_filter
    own = scope.tenant_id
    if own is None or (tenant_filter is not None and tenant_filter != own):
        return NO_TENANT
    return own


def _parse_types(raw: str | None) -> list[str] | None:
    # The patterns themselves are checked by read_feed (one rule, one place).
    if raw is None or raw == "":
        return None
    return raw.split(",")


def _parse_uuid(parameter: str, raw: str | None) -> UUID | None:
    if raw is None or raw == "":
        return None
    if len(raw) > _UUID_MAX_LENGTH:
        raise BadFeedQuery(parameter, "Must be a UUID.")
    try:
        return UUID(raw)
    except ValueError:
        raise BadFeedQuery(parameter, "Must be a UUID.") from None


def _parse_wait(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    if not _WAIT.fullmatch(raw) or int(raw) > MAX_WAIT_SECONDS:
        raise BadFeedQuery("wait", f"Must be an integer between 0 and {MAX_WAIT_SECONDS}.")
    return int(raw)
