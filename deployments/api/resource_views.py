"""Resources and entitlements (SPEC §8): parse, call one service or selector, render.

Every read goes through the caller's tenant scope: another tenant's deployment
or resource answers 404 exactly like a missing one. Controllers (the
provisioning controllers' identities) may list and read resources of every
tenant and report status (`controller_may`); the API refuses them everything
else (`arcadia_cloud.api.permissions.ControllerMay`). Lists are keyset pages
in id (= creation) order: `{"resources": [...], "next": url-or-null}`.
"""

from __future__ import annotations

import re
from uuid import UUID

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from arcadia_cloud.actors import Actor
from arcadia_cloud.api import fields
from arcadia_cloud.api.exceptions import BadRequest
from arcadia_cloud.api.pagination import LIMIT_DESCRIPTION, limit_schema, parse_limit
from arcadia_cloud.api.permissions import ControllerMay, ControllersOnly, allowed_to_controllers
from arcadia_cloud.errors import NotFound
from deployments.api.serializers import ErrorOut
from deployments.entitlements import entitlements_of
from deployments.models import (
    RESOURCE_KIND_PATTERN,
    SLUG_PATTERN,
    CloudResource,
    DesiredState,
    ObservedState,
)
from deployments.resource_events import shape_of
from deployments.resource_selectors import find_resources, get_resource_visible_to, page_after
from deployments.resources import (
    REQUESTABLE_STATES,
    create_resource,
    delete_resource,
    report_status,
    update_resource,
)
from deployments.selectors import get_deployment_visible_to

#: PostgreSQL's integer: the largest qty a resource holds.
MAX_QTY = 2**31 - 1
#: PostgreSQL's bigint: the largest generation.
MAX_GENERATION = 2**63 - 1
MESSAGE_MAX_LENGTH = CloudResource._meta.get_field("status_message").max_length

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_UUID = re.compile(UUID_PATTERN.removesuffix("$") + r"\Z")
_KIND = re.compile(RESOURCE_KIND_PATTERN.removesuffix("$") + r"\Z")

EXAMPLE_RESOURCE = {
    "id": "0193a4b2-7c1d-7e2f-8a3b-4c5d6e7f8091",
    "deployment_id": "3f1c2a9e-8d4b-4c1e-9f6a-2b7d5e8c0a14",
    "tenant_id": "9b2e4f60-1a3c-4d5e-8f7a-0c1b2d3e4f50",
    "kind": "storage_gb",
    "name": "uploads",
    "qty": 40,
    "desired_state": "running",
    "observed_state": "pending",
    "generation": 1,
    "observed_generation": 0,
    "pending": True,
    "held": False,
    "status_message": "",
    "observed_at": None,
    "created_at": "2026-11-02T09:30:00Z",
    "updated_at": "2026-11-02T09:30:00Z",
}


# ---- shapes -------------------------------------------------------------------


class ResourceOut(serializers.Serializer):
    id = serializers.UUIDField()
    deployment_id = serializers.UUIDField()
    tenant_id = serializers.UUIDField()
    kind = serializers.CharField()
    name = serializers.CharField()
    qty = serializers.IntegerField(min_value=1)
    desired_state = serializers.ChoiceField(choices=DesiredState.choices)
    observed_state = serializers.ChoiceField(choices=ObservedState.choices)
    generation = serializers.IntegerField(
        min_value=1, help_text="Bumped on every change of what is wanted (qty, desired state)."
    )
    observed_generation = serializers.IntegerField(
        min_value=0, help_text="The generation of the last status report (0: none yet)."
    )
    pending = serializers.BooleanField(help_text="observed_generation < generation.")
    held = serializers.BooleanField(
        help_text="Stopped by the lifecycle (paused, suspended), not by the tenant."
    )
    status_message = serializers.CharField(allow_blank=True)
    observed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ResourceEnvelope(serializers.Serializer):
    resource = ResourceOut()


class ResourceListOut(serializers.Serializer):
    resources = ResourceOut(many=True)
    next = serializers.URLField(allow_null=True)


class EntitlementOut(serializers.Serializer):
    resource_kind = serializers.CharField()
    included = serializers.IntegerField(min_value=0)
    addons = serializers.IntegerField(min_value=0)
    limit = serializers.IntegerField(min_value=0)
    used = serializers.IntegerField(min_value=0)


class EntitlementListOut(serializers.Serializer):
    entitlements = EntitlementOut(many=True)


# ---- input --------------------------------------------------------------------


class ResourceCreateIn(serializers.Serializer):
    kind = fields.RegexField(RESOURCE_KIND_PATTERN, max_length=63)
    name = fields.RegexField(SLUG_PATTERN, max_length=63)
    qty = fields.IntegerField(min_value=1, max_value=MAX_QTY)
    desired_state = fields.ChoiceField(choices=REQUESTABLE_STATES, required=False)


class ResourcePatchIn(serializers.Serializer):
    qty = fields.IntegerField(min_value=1, max_value=MAX_QTY, required=False)
    desired_state = fields.ChoiceField(choices=REQUESTABLE_STATES, required=False)


class StatusReportIn(serializers.Serializer):
    observed_state = fields.ChoiceField(choices=ObservedState.values)
    observed_generation = fields.IntegerField(min_value=0, max_value=MAX_GENERATION)
    message = fields.CharField(
        max_length=MESSAGE_MAX_LENGTH, required=False, allow_blank=True, default=""
    )


# ---- query parameters -----------------------------------------------------------

CURSOR_PARAMETER = OpenApiParameter(
    "cursor",
    {"type": "string", "pattern": UUID_PATTERN},
    description="Take it from `next`: the id of the last resource of the previous page.",
)
LIMIT_PARAMETER = OpenApiParameter("limit", limit_schema(), description=LIMIT_DESCRIPTION)


def _parse_cursor(request) -> UUID | None:
    raw = request.query_params.get("cursor")
    if raw is None or raw == "":
        return None
    if not _UUID.match(raw):
        raise BadRequest({"cursor": ["Invalid cursor."]})
    return UUID(raw)


def _parse_uuid(request, name: str) -> UUID | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not _UUID.match(raw.lower()):
        raise BadRequest({name: ["Must be a UUID."]})
    return UUID(raw)


def _parse_kind(request) -> str | None:
    raw = request.query_params.get("kind")
    if raw is None or raw == "":
        return None
    if not _KIND.match(raw):
        raise BadRequest({"kind": ["Must be a resource kind (lower-case letters, digits, '_')."]})
    return raw


def _parse_pending(request) -> bool | None:
    raw = request.query_params.get("pending")
    if raw is None or raw == "":
        return None
    if raw not in ("true", "false"):
        raise BadRequest({"pending": ["Must be true or false."]})
    return raw == "true"


def _page(request, rows) -> Response:
    limit = parse_limit(request)
    page, more = page_after(rows, after=_parse_cursor(request), limit=limit)
    next_url = None
    if more:
        next_url = replace_query_param(request.build_absolute_uri(), "cursor", str(page[-1].id))
    return Response({"resources": [shape_of(r) for r in page], "next": next_url})


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorOut, description=description)


NOT_FOUND = _error("No such deployment (or another tenant's)")
RESOURCE_NOT_FOUND = _error("No such resource (or another tenant's)")
CONTROLLER_REFUSED = _error("A controller identity may not do this (`forbidden`)")


def _actor(request) -> Actor:
    return Actor.from_api_request(request)


def _visible_deployment(request, pk):
    deployment = get_deployment_visible_to(_actor(request), pk)
    if deployment is None:
        raise NotFound()
    return deployment


def _visible_resource(request, resource_id) -> CloudResource:
    resource = get_resource_visible_to(_actor(request), resource_id)
    if resource is None:
        raise NotFound()
    return resource


# ---- views ----------------------------------------------------------------------


class DeploymentResourcesView(APIView):
    controller_may = allowed_to_controllers("get")

    @extend_schema(
        operation_id="deployments_resources_list",
        summary="The deployment's resources, deleted ones included, oldest first",
        parameters=[CURSOR_PARAMETER, LIMIT_PARAMETER],
        responses={200: ResourceListOut, 404: NOT_FOUND},
    )
    def get(self, request, pk):
        deployment = _visible_deployment(request, pk)
        return _page(request, find_resources(_actor(request), deployment_id=deployment.pk))

    @extend_schema(
        operation_id="deployments_resources_create",
        summary="Create a resource within the deployment's limits",
        request=ResourceCreateIn,
        examples=[
            OpenApiExample(
                "40 GB of storage",
                request_only=True,
                value={"kind": "storage_gb", "name": "uploads", "qty": 40},
            ),
            OpenApiExample(
                "Over the limit",
                response_only=True,
                status_codes=["422"],
                value={
                    "error": "quota_exceeded",
                    "resource_kind": "storage_gb",
                    "limit": 150,
                    "used": 120,
                    "requested": 40,
                },
            ),
        ],
        responses={
            201: ResourceEnvelope,
            403: CONTROLLER_REFUSED,
            404: NOT_FOUND,
            409: _error("The deployment has a resource of that name (`resource_name_taken`)"),
            422: _error(
                "quota_exceeded (with resource_kind, limit, used, requested), "
                "deployment_not_running (not active or trial), unknown_resource_kind, "
                "or a field"
            ),
        },
    )
    def post(self, request, pk):
        deployment = _visible_deployment(request, pk)
        data = ResourceCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        resource = create_resource(
            deployment_id=deployment.pk,
            kind=values["kind"],
            name=values["name"],
            qty=values["qty"],
            desired_state=values.get("desired_state", DesiredState.RUNNING),
            actor=_actor(request),
        )
        return Response({"resource": shape_of(resource)}, status=status.HTTP_201_CREATED)


class EntitlementsView(APIView):
    @extend_schema(
        operation_id="deployments_entitlements",
        summary="Limit and use per resource kind",
        description="For every kind in the plan version's quotas, the attached add-on lines "
        "or the resources: included (plan), addons (attached lines), limit (their sum) and "
        "used (resources not deleted). Without a subscription every limit is 0.",
        responses={200: EntitlementListOut, 403: CONTROLLER_REFUSED, 404: NOT_FOUND},
    )
    def get(self, request, pk):
        deployment = _visible_deployment(request, pk)
        return Response({"entitlements": [e.as_dict() for e in entitlements_of(deployment.pk)]})


class ResourceListView(APIView):
    controller_may = allowed_to_controllers("get")

    @extend_schema(
        operation_id="resources_list",
        summary="Resources the caller sees (every tenant's for controllers and platform admins)",
        description="`pending=true`: the controllers' work queue, the resources whose "
        "observed_generation is behind their generation.",
        parameters=[
            OpenApiParameter(
                "pending", {"type": "string", "enum": ["true", "false"]}, description="Pending only"
            ),
            OpenApiParameter(
                "kind", {"type": "string", "pattern": RESOURCE_KIND_PATTERN, "maxLength": 63}
            ),
            OpenApiParameter(
                "deployment",
                {"type": "string", "pattern": UUID_PATTERN},
                description="One deployment's resources (another tenant's: none).",
            ),
            CURSOR_PARAMETER,
            LIMIT_PARAMETER,
        ],
        responses={200: ResourceListOut},
    )
    def get(self, request):
        rows = find_resources(
            _actor(request),
            deployment_id=_parse_uuid(request, "deployment"),
            kind=_parse_kind(request),
            pending=_parse_pending(request),
        )
        return _page(request, rows)


class ResourceDetailView(APIView):
    controller_may = allowed_to_controllers("get")

    @extend_schema(
        operation_id="resources_show",
        responses={200: ResourceEnvelope, 404: RESOURCE_NOT_FOUND},
    )
    def get(self, request, resource_id):
        return Response({"resource": shape_of(_visible_resource(request, resource_id))})

    @extend_schema(
        operation_id="resources_update",
        summary="Change qty and/or desired state (running, stopped)",
        request=ResourcePatchIn,
        examples=[OpenApiExample("Stop it", request_only=True, value={"desired_state": "stopped"})],
        responses={
            200: ResourceEnvelope,
            403: CONTROLLER_REFUSED,
            404: RESOURCE_NOT_FOUND,
            422: _error(
                "quota_exceeded (growing past the limit), deployment_not_running (growing or "
                "starting on a deployment that is not active or trial), resource_deleted, "
                "or a field"
            ),
        },
    )
    def patch(self, request, resource_id):
        _visible_resource(request, resource_id)
        data = ResourcePatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        resource = update_resource(
            resource_id=resource_id,
            qty=data.validated_data.get("qty"),
            desired_state=data.validated_data.get("desired_state"),
            actor=_actor(request),
        )
        return Response({"resource": shape_of(resource)})

    @extend_schema(
        operation_id="resources_delete",
        summary="Ask for the resource to be deleted (desired state `deleted`)",
        responses={200: ResourceEnvelope, 403: CONTROLLER_REFUSED, 404: RESOURCE_NOT_FOUND},
    )
    def delete(self, request, resource_id):
        resource = delete_resource(resource_id=resource_id, actor=_actor(request))
        return Response({"resource": shape_of(resource)})


class ResourceStatusView(APIView):
    permission_classes = [IsAuthenticated, ControllerMay, ControllersOnly]
    controller_may = allowed_to_controllers("post")

    @extend_schema(
        operation_id="resources_report_status",
        summary="A controller reports what it observes (controllers only)",
        request=StatusReportIn,
        examples=[
            OpenApiExample(
                "Running at generation 3",
                request_only=True,
                value={"observed_state": "running", "observed_generation": 3},
            ),
            OpenApiExample(
                "A report older than the last one",
                response_only=True,
                status_codes=["409"],
                value={
                    "error": "stale_generation",
                    "reported": 2,
                    "generation": 4,
                    "observed_generation": 3,
                },
            ),
        ],
        responses={
            200: ResourceEnvelope,
            403: _error("Only controllers report status (`forbidden`, whatever the id)"),
            404: RESOURCE_NOT_FOUND,
            409: _error(
                "stale_generation: observed_generation is above the resource's generation "
                "or below the last one reported"
            ),
        },
    )
    def post(self, request, resource_id):
        data = StatusReportIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        resource = report_status(
            resource_id=resource_id,
            observed_state=values["observed_state"],
            observed_generation=values["observed_generation"],
            message=values.get("message", ""),
            actor=_actor(request),
        )
        return Response({"resource": shape_of(resource)})
