"""The one place where errors become HTTP responses.

Domain errors carry a category (see `arcadia_cloud.errors`); DRF's own errors
are reshaped into the `{"error": ...}` bodies the API contract promises.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from arcadia_cloud.errors import DomainError, bad_request_body, throttled_body

logger = logging.getLogger(__name__)

CATEGORY_STATUS = {
    "invalid": status.HTTP_422_UNPROCESSABLE_ENTITY,
    "conflict": status.HTTP_409_CONFLICT,
    "forbidden": status.HTTP_403_FORBIDDEN,
    "not_found": status.HTTP_404_NOT_FOUND,
    "bad_request": status.HTTP_400_BAD_REQUEST,
    "gone": status.HTTP_410_GONE,
}


class BadRequest(exceptions.APIException):
    """A request that is malformed for the endpoint (400), as opposed to a
    well-formed one whose values the domain refuses (422)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"

    def __init__(self, detail):
        super().__init__(detail=detail)
        self.raw_detail = detail


def exception_handler(exc, context):
    response = _to_response(exc)
    if response is None:
        return None
    set_rollback()
    return response


def _to_response(exc) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(exc.body(), status=CATEGORY_STATUS[exc.category])
    if isinstance(exc, Http404 | exceptions.NotFound):
        return Response({"error": "not_found"}, status=404)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response = Response({"error": "unauthenticated"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if isinstance(exc, PermissionDenied | exceptions.PermissionDenied):
        return Response({"error": "forbidden"}, status=403)
    if isinstance(exc, BadRequest):
        return Response(bad_request_body(exc.raw_detail), status=400)
    if isinstance(exc, exceptions.ParseError):
        return Response({"error": "malformed_json", "detail": str(exc.detail)}, status=400)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return Response(
            {"error": "unsupported_media_type", "detail": "Send application/json."}, status=415
        )
    if isinstance(exc, exceptions.MethodNotAllowed):
        return Response({"error": "method_not_allowed"}, status=405)
    if isinstance(exc, exceptions.NotAcceptable):
        return Response({"error": "not_acceptable"}, status=406)
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 1)
        response = Response(throttled_body(wait), status=429)
        response["Retry-After"] = str(wait)
        return response
    if isinstance(exc, exceptions.ValidationError):
        return Response({"error": _detail(exc.detail)}, status=422)
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return Response({"error": detail}, status=422)
    if isinstance(exc, exceptions.APIException):
        return Response(
            {"error": exc.default_code, "detail": _detail(exc.detail)}, status=exc.status_code
        )
    return None


def _detail(detail):
    """ErrorDetail objects → plain strings; a bare list becomes non_field_errors."""
    if isinstance(detail, dict):
        return {key: _messages(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": _messages(detail)}
    return {"non_field_errors": [str(detail)]}


def _messages(value):
    if isinstance(value, dict):
        return {key: _messages(inner) for key, inner in value.items()}
    if isinstance(value, list):
        flat = []
        for item in value:
            flat.append(_messages(item) if isinstance(item, dict | list) else str(item))
        return flat
    return [str(value)]
