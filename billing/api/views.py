"""Statements under a deployment: parse, read, render."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from arcadia_cloud.actors import Actor
from arcadia_cloud.api.pagination import (
    CURSOR_DESCRIPTION,
    CURSOR_SCHEMA,
    LIMIT_DESCRIPTION,
    CursorPagination,
    limit_schema,
)
from arcadia_cloud.errors import NotFound
from billing import selectors
from billing.api.serializers import BillingErrorOut, StatementEnvelope, StatementListOut
from billing.errors import NoOpenPeriod
from billing.shapes import draft_shape, statement_shape
from deployments.selectors import get_deployment_visible_to
from subscriptions.errors import SubscriptionNotFound

ERRORS = {
    400: OpenApiResponse(BillingErrorOut, description="Malformed request"),
    401: OpenApiResponse(BillingErrorOut, description="Missing or bad token"),
    404: OpenApiResponse(
        BillingErrorOut, description="No such deployment (or another tenant's), or no subscription"
    ),
}


class StatementPagination(CursorPagination):
    # The clock closes a subscription's periods oldest first, so ids grow with
    # the period: newest id first is newest period first.
    ordering = ("-id",)


def _deployment(request, pk):
    deployment = get_deployment_visible_to(Actor.from_api_request(request), pk)
    if deployment is None:
        raise NotFound()
    return deployment


class StatementListView(GenericAPIView):
    pagination_class = StatementPagination
    results_key = "statements"

    @extend_schema(
        operation_id="deployments_statements",
        summary="Closed statements of the deployment, newest first",
        parameters=[
            OpenApiParameter("cursor", CURSOR_SCHEMA, description=CURSOR_DESCRIPTION),
            OpenApiParameter("limit", limit_schema(), description=LIMIT_DESCRIPTION),
        ],
        responses={200: StatementListOut, **ERRORS},
    )
    def get(self, request, pk):
        deployment = _deployment(request, pk)
        page = self.paginate_queryset(selectors.statements_of(deployment.pk))
        return self.get_paginated_response([statement_shape(s) for s in page])


class UpcomingStatementView(GenericAPIView):
    @extend_schema(
        operation_id="deployments_statements_upcoming",
        summary="The open period's statement, previewed to its end assuming no further change",
        responses={200: StatementEnvelope, **ERRORS},
    )
    def get(self, request, pk):
        deployment = _deployment(request, pk)
        subscription = selectors.subscription_to_preview(deployment.pk)
        if subscription is None:
            raise SubscriptionNotFound()
        draft = selectors.upcoming_statement(subscription)
        if draft is None:
            raise NoOpenPeriod()
        return Response({"statement": draft_shape(draft)})
