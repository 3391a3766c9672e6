"""The public catalog: every authenticated caller may read what is on sale."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors
from catalog.api.serializers import (
    AddonListOut,
    CatalogErrorOut,
    PlanListOut,
    render_addon,
    render_plan,
)

UNAUTHENTICATED = {401: OpenApiResponse(CatalogErrorOut, description="Missing or bad token")}


class PlanListView(APIView):
    @extend_schema(
        operation_id="plans_list",
        summary="Plans on sale with their active version (cheapest first)",
        responses={200: PlanListOut, **UNAUTHENTICATED},
    )
    def get(self, request):
        return Response(
            {"plans": [render_plan(plan, version) for plan, version in selectors.plans_on_sale()]}
        )


class AddonListView(APIView):
    @extend_schema(
        operation_id="addons_list",
        summary="Add-ons on sale at their current price",
        responses={200: AddonListOut, **UNAUTHENTICATED},
    )
    def get(self, request):
        return Response({"addons": [render_addon(a) for a in selectors.addons_on_sale()]})
