from django.db import connection
from django.http import JsonResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from arcadia_cloud.api.permissions import allowed_to_controllers


class MeView(APIView):
    """Who the bearer token belongs to."""

    controller_may = allowed_to_controllers("get")

    @extend_schema(
        operation_id="me",
        responses=inline_serializer(
            "Me",
            {
                "email": serializers.EmailField(),
                "tenant_id": serializers.UUIDField(allow_null=True),
                "roles": serializers.ListField(child=serializers.CharField()),
            },
        ),
    )
    def get(self, request):
        user = request.user
        return Response(
            {
                "email": user.email,
                "tenant_id": str(user.tenant_id) if user.tenant_id else None,
                "roles": list(user.roles or []),
            }
        )


def healthz(request):
    """200 when the app and its database answer; 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return JsonResponse({"status": "unavailable", "database": str(exc)[:200]}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
