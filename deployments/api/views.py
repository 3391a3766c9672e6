"""Deployment endpoints: parse, call one service or selector, render."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from arcadia_cloud.actors import Actor
from arcadia_cloud.api.exceptions import BadRequest
from arcadia_cloud.api.filtering import FilterBackend
from arcadia_cloud.api.pagination import (
    CURSOR_DESCRIPTION,
    CURSOR_SCHEMA,
    LIMIT_DESCRIPTION,
    CursorPagination,
    LimitOffsetPagination,
    limit_schema,
)
from arcadia_cloud.api.permissions import allowed_to_controllers
from arcadia_cloud.api.routes import UUID_RE
from arcadia_cloud.errors import Forbidden, NotFound
from arcadia_cloud.models import Tenant
from arcadia_cloud.selectors import get_tenant
from deployments import selectors
from deployments.api.filters import DeploymentFilter
from deployments.api.serializers import (
    DeploymentCreatedOut,
    DeploymentCreateIn,
    DeploymentEnvelope,
    DeploymentListOut,
    DeploymentShowOut,
    ErrorOut,
    EventListOut,
    TransitionIn,
    render_deployment,
    render_event,
)
from deployments.models import Deployment
from deployments.services import create_deployment
from deployments.transitions import transition_state
from subscriptions.selectors import get_subscription_for_deployment
from subscriptions.shapes import render_subscription

ERRORS = {
    400: OpenApiResponse(ErrorOut, description="Malformed request"),
    401: OpenApiResponse(ErrorOut, description="Missing or bad token"),
    404: OpenApiResponse(ErrorOut, description="No such deployment (or another tenant's)"),
}


EXAMPLE_DEPLOYMENT = {
    "id": "3f1c2a9e-8d4b-4c1e-9f6a-2b7d5e8c0a14",
    "tenant_id": "9b2e4f60-1a3c-4d5e-8f7a-0c1b2d3e4f50",
    "slug": "web-shop",
    "display_name": "Web shop",
    "region": "us-east-1",
    "state": "active",
    "state_since": "2026-11-02T09:30:00Z",
    "llm_mode": "managed",
    "template_code": "wordpress",
    "template_version": "6.5",
    "billing_action_suspended": False,
    "created_at": "2026-11-02T09:30:00Z",
    "allowed_transitions": ["paused", "cancelled"],
}


class EventPagination(CursorPagination):
    ordering = ("id",)


class DeploymentViewSet(viewsets.GenericViewSet):
    lookup_value_regex = UUID_RE
    results_key = "deployments"
    pagination_class = LimitOffsetPagination
    filter_backends = [FilterBackend]
    filterset_class = DeploymentFilter
    serializer_class = DeploymentCreateIn
    # Controllers read deployments (every tenant's); they create and move none.
    controller_may = allowed_to_controllers("list", "retrieve", "events")

    def get_queryset(self):
        return selectors.deployments_visible_to(Actor.from_api_request(self.request))

    def get_object(self):
        deployment = selectors.get_deployment_visible_to(
            Actor.from_api_request(self.request), self.kwargs["pk"]
        )
        if deployment is None:
            raise NotFound()
        return deployment

    @extend_schema(operation_id="deployments_list", responses={200: DeploymentListOut, **ERRORS})
    def list(self, request):
        actor = Actor.from_api_request(request)
        conditions = FilterBackend().conditions(request, Deployment.objects.none(), self)
        limit, offset = self.paginator.bounds(request, self)
        count, rows = selectors.deployment_page(actor, conditions, limit=limit, offset=offset)
        return self.paginator.counted_response(rows, count)

    @extend_schema(
        operation_id="deployments_create",
        request=DeploymentCreateIn,
        responses={201: DeploymentCreatedOut, 403: ErrorOut, 422: ErrorOut, **ERRORS},
        examples=[
            OpenApiExample(
                "A managed deployment",
                request_only=True,
                value={
                    "slug": "web-shop",
                    "display_name": "Web shop",
                    "region": "us-east-1",
                    "llm_mode": "managed",
                    "template_code": "wordpress",
                    "template_version": "6.5",
                },
            ),
            OpenApiExample(
                "Created",
                response_only=True,
                status_codes=["201"],
                value={"deployment": EXAMPLE_DEPLOYMENT},
            ),
            OpenApiExample(
                "Refused: a field",
                response_only=True,
                status_codes=["422"],
                value={"error": {"slug": ["A deployment with this slug already exists."]}},
            ),
        ],
    )
    def create(self, request):
        data = DeploymentCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        identity = request.user
        tenant = self._tenant_for_create(identity, values.pop("tenant_id", None))
        actor = Actor.from_api_request(request)
        values["addon_codes"] = values.pop("addons", None) or []
        deployment = create_deployment(tenant=tenant, actor=actor, **values)
        body = {"deployment": render_deployment(deployment, actor)}
        if values.get("plan_code"):
            body["subscription"] = render_subscription(
                get_subscription_for_deployment(deployment.pk)
            )
        return Response(body, status=status.HTTP_201_CREATED)

    @staticmethod
    def _tenant_for_create(identity, tenant_id) -> Tenant:
        from rest_framework.exceptions import ValidationError

        if not identity.is_platform_admin:
            if tenant_id is not None and tenant_id != identity.tenant_id:
                raise Forbidden()
            return identity.tenant
        if tenant_id is None:
            raise ValidationError({"tenant_id": ["Required for a platform admin."]})
        tenant = get_tenant(tenant_id)
        if tenant is None:
            raise ValidationError({"tenant_id": ["Unknown tenant."]})
        return tenant

    @extend_schema(operation_id="deployments_show", responses={200: DeploymentShowOut, **ERRORS})
    def retrieve(self, request, pk=None):
        actor = Actor.from_api_request(request)
        deployment, events = selectors.show_reads(actor, pk)
        if deployment is None:
            raise NotFound()
        return Response(
            {
                "deployment": render_deployment(deployment, actor),
                "subscription": render_subscription(selectors.subscription_of(deployment)),
                "events": [render_event(e) for e in events],
            }
        )

    @extend_schema(
        operation_id="deployments_events",
        # A detail action: drf-spectacular adds pagination parameters to list views only.
        parameters=[
            OpenApiParameter("cursor", CURSOR_SCHEMA, description=CURSOR_DESCRIPTION),
            OpenApiParameter("limit", limit_schema(), description=LIMIT_DESCRIPTION),
        ],
        responses={200: EventListOut, **ERRORS},
    )
    @action(detail=True, methods=["get"], pagination_class=EventPagination)
    def events(self, request, pk=None):
        deployment = self.get_object()
        self.results_key = "events"
        page = self.paginate_queryset(selectors.events_of(deployment.pk))
        return self.get_paginated_response([render_event(e) for e in page])

    @extend_schema(
        operation_id="deployments_transition",
        request=TransitionIn,
        examples=[
            OpenApiExample(
                "Pause an active deployment",
                request_only=True,
                value={
                    "to_state": "paused",
                    "reason": "Holiday break",
                    "notes": "Back on the 5th",
                    "expected_state": "active",
                },
            ),
            OpenApiExample(
                "Moved",
                response_only=True,
                status_codes=["200"],
                value={
                    "deployment": {
                        **EXAMPLE_DEPLOYMENT,
                        "state": "paused",
                        "allowed_transitions": ["active", "cancelled"],
                    }
                },
            ),
            OpenApiExample(
                "Not a move from this state",
                response_only=True,
                status_codes=["422"],
                value={"error": "invalid_transition", "from": "archived", "to": "active"},
            ),
            OpenApiExample(
                "Moved meanwhile",
                response_only=True,
                status_codes=["409"],
                value={"error": "state_conflict", "expected": "active", "actual": "paused"},
            ),
        ],
        responses={
            200: DeploymentEnvelope,
            403: ErrorOut,
            409: ErrorOut,
            422: ErrorOut,
            **ERRORS,
        },
    )
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        data = TransitionIn(data=request.data)
        if not data.is_valid():
            self.get_object()  # someone else's or a missing deployment is a 404 first
            raise BadRequest({k: [str(m) for m in v] for k, v in data.errors.items()})
        values = data.validated_data
        actor = Actor.from_api_request(request)
        # The service looks the row up in the actor's scope and locks it in one
        # query (outside the scope: DeploymentNotFound, 404).
        moved = transition_state(
            deployment_id=pk,
            to_state=values["to_state"],
            actor=actor,
            reason=values.get("reason", ""),
            notes=values.get("notes", ""),
            expected_state=values.get("expected_state"),
        )
        return Response({"deployment": render_deployment(moved, actor)})
