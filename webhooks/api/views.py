"""Webhook endpoint routes: parse, call one service or selector, render.

Endpoints are looked up in the caller's scope, so another tenant's endpoint
answers 404 exactly like a missing one; object routes look the endpoint up
before they read the body, so a bad body on a foreign id is a 404 too.
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from arcadia_cloud.actors import Actor
from arcadia_cloud.api.pagination import (
    CURSOR_DESCRIPTION,
    CURSOR_SCHEMA,
    LIMIT_DESCRIPTION,
    CursorPagination,
    limit_schema,
)
from arcadia_cloud.errors import NotFound
from webhooks import selectors, services
from webhooks.api.serializers import (
    DeliveryEnvelope,
    DeliveryListOut,
    EndpointCreatedOut,
    EndpointCreateIn,
    EndpointDeletedOut,
    EndpointEnvelope,
    EndpointListOut,
    EndpointUpdateIn,
    ReplayIn,
    ReplayOut,
    SecretOut,
    WebhookErrorOut,
)
from webhooks.shapes import delivery_shape, endpoint_shape


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(WebhookErrorOut, description=description)


COMMON = {400: _error("Malformed request"), 401: _error("Missing or bad token")}
MISSING = {404: _error("No such endpoint (or another tenant's)")}
INVALID = {422: _error("A field the API refuses: {field: [messages]}")}

EXAMPLE_ENDPOINT = {
    "id": "5b0e7a3c-2f1d-4c8e-9a6b-1d2e3f4a5b6c",
    "tenant_id": "9b2e4f60-1a3c-4d5e-8f7a-0c1b2d3e4f50",
    "url": "https://hooks.example.com/arcadia",
    "types": ["deployment.*", "subscription.period_closed"],
    "description": "Provisioning controller",
    "enabled": True,
    "disabled_reason": None,
    "created_at": "2026-11-02T09:30:00Z",
}


def _actor(request) -> Actor:
    return Actor.from_api_request(request)


class _EndpointScoped(APIView):
    def endpoint(self, request, pk):
        endpoint = selectors.get_endpoint_visible_to(_actor(request), pk)
        if endpoint is None:
            raise NotFound()
        return endpoint


class EndpointListView(APIView):
    @extend_schema(
        operation_id="webhook_endpoints_list",
        summary="The caller's webhook endpoints (platform admins: every one)",
        responses={200: EndpointListOut, **COMMON},
    )
    def get(self, request):
        endpoints = selectors.endpoints_visible_to(_actor(request))
        return Response({"endpoints": [endpoint_shape(e) for e in endpoints]})

    @extend_schema(
        operation_id="webhook_endpoints_create",
        summary="Register an endpoint; its signing secret is in this answer only",
        request=EndpointCreateIn,
        responses={
            201: EndpointCreatedOut,
            403: _error("tenant_id of another tenant"),
            **INVALID,
            **COMMON,
        },
        examples=[
            OpenApiExample(
                "Deployment events and closed periods",
                request_only=True,
                value={
                    "url": "https://hooks.example.com/arcadia",
                    "types": ["deployment.*", "subscription.period_closed"],
                    "description": "Provisioning controller",
                },
            ),
            OpenApiExample(
                "Created",
                response_only=True,
                status_codes=["201"],
                value={
                    "endpoint": EXAMPLE_ENDPOINT,
                    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1Qn8Gj1bF2Y=",
                },
            ),
            OpenApiExample(
                "Refused: a private address",
                response_only=True,
                status_codes=["422"],
                value={
                    "error": {
                        "url": [
                            "The host intranet.example resolves to 10.0.0.5, which is a "
                            "private address: webhooks go to public addresses only."
                        ]
                    }
                },
            ),
        ],
    )
    def post(self, request):
        data = EndpointCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        registered = services.create_endpoint(
            actor=_actor(request),
            url=values["url"],
            types=values.get("types"),
            description=values.get("description", ""),
            tenant_id=values.get("tenant_id"),
        )
        return Response(
            {"endpoint": endpoint_shape(registered.endpoint), "secret": registered.secret},
            status=status.HTTP_201_CREATED,
        )


class EndpointDetailView(_EndpointScoped):
    @extend_schema(
        operation_id="webhook_endpoints_show",
        responses={200: EndpointEnvelope, **MISSING, **COMMON},
    )
    def get(self, request, pk):
        return Response({"endpoint": endpoint_shape(self.endpoint(request, pk))})

    @extend_schema(
        operation_id="webhook_endpoints_update",
        summary="Change the URL, types, description, or enable / disable it",
        request=EndpointUpdateIn,
        responses={200: EndpointEnvelope, **MISSING, **INVALID, **COMMON},
        examples=[
            OpenApiExample(
                "Only resource events", request_only=True, value={"types": ["resource.*"]}
            ),
            OpenApiExample("Switch it back on", request_only=True, value={"enabled": True}),
        ],
    )
    def patch(self, request, pk):
        self.endpoint(request, pk)
        data = EndpointUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.update_endpoint(
            actor=_actor(request), endpoint_id=pk, **data.validated_data
        )
        return Response({"endpoint": endpoint_shape(endpoint)})

    @extend_schema(
        operation_id="webhook_endpoints_delete",
        summary="Delete it, with its secrets and delivery log",
        responses={200: EndpointDeletedOut, **MISSING, **COMMON},
    )
    def delete(self, request, pk):
        endpoint = self.endpoint(request, pk)
        services.delete_endpoint(actor=_actor(request), endpoint_id=endpoint.pk)
        return Response({"id": str(endpoint.pk), "deleted": True})


class RotateSecretView(_EndpointScoped):
    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        summary="A new signing secret; the previous one keeps signing beside it for 24 hours",
        request=None,
        responses={200: SecretOut, **MISSING, **COMMON},
    )
    def post(self, request, pk):
        self.endpoint(request, pk)
        return Response({"secret": services.rotate_secret(actor=_actor(request), endpoint_id=pk)})


class DeliveryPagination(CursorPagination):
    # Newest event first, on the (endpoint, event) unique index.
    ordering = ("-event_id",)


class DeliveryListView(GenericAPIView, _EndpointScoped):
    pagination_class = DeliveryPagination
    results_key = "deliveries"

    @extend_schema(
        operation_id="webhook_endpoints_deliveries",
        summary="The endpoint's deliveries, newest event first",
        parameters=[
            OpenApiParameter("cursor", CURSOR_SCHEMA, description=CURSOR_DESCRIPTION),
            OpenApiParameter("limit", limit_schema(), description=LIMIT_DESCRIPTION),
        ],
        responses={200: DeliveryListOut, **MISSING, **COMMON},
    )
    def get(self, request, pk):
        endpoint = self.endpoint(request, pk)
        page = self.paginate_queryset(selectors.deliveries_of(endpoint))
        return self.get_paginated_response([delivery_shape(d) for d in page])


class DeliveryRetryView(_EndpointScoped):
    @extend_schema(
        operation_id="webhook_endpoints_delivery_retry",
        summary="Send one delivery again now (same webhook-id)",
        request=None,
        responses={
            200: DeliveryEnvelope,
            404: _error("No such endpoint (or another tenant's) or delivery"),
            409: _error("endpoint_disabled, or delivery_in_flight (an attempt is running)"),
            **COMMON,
        },
    )
    def post(self, request, pk, delivery_id):
        self.endpoint(request, pk)
        delivery = services.retry_delivery(
            actor=_actor(request), endpoint_id=pk, delivery_id=int(delivery_id)
        )
        return Response({"delivery": delivery_shape(delivery)})


class ReplayView(_EndpointScoped):
    @extend_schema(
        operation_id="webhook_endpoints_replay",
        summary="Deliver again every matching event after a feed cursor (same webhook-ids)",
        request=ReplayIn,
        examples=[
            OpenApiExample(
                "Everything after a cursor",
                request_only=True,
                value={"after": "1.4711"},
            ),
            OpenApiExample(
                "Scheduled", response_only=True, status_codes=["200"], value={"scheduled": 12}
            ),
        ],
        responses={
            200: ReplayOut,
            400: _error("A malformed cursor (or request)"),
            409: _error("endpoint_disabled"),
            410: _error("cursor_expired: the cursor is older than the feed's retention"),
            **MISSING,
            **INVALID,
            401: COMMON[401],
        },
    )
    def post(self, request, pk):
        self.endpoint(request, pk)
        data = ReplayIn(data=request.data)
        data.is_valid(raise_exception=True)
        count = services.replay(
            actor=_actor(request), endpoint_id=pk, after=data.validated_data["after"]
        )
        return Response({"scheduled": count})
