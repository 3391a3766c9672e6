"""Request plumbing shared by every endpoint: request ids, body size limit, and
JSON error bodies for everything under /api/ (Django's own 404/405/500 pages are HTML)."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from arcadia_cloud.errors import bad_request_body

logger = logging.getLogger("arcadia_cloud.request")

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


def install_request_id_on_log_records() -> None:
    """Stamp `request_id` on every LogRecord when it is created, so every handler
    (the console, gunicorn's, a test's caplog, an error tracker) sees it, not
    only the handlers configured with `RequestIdLogFilter`."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "stamps_request_id", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        record.request_id = _request_id.get()
        return record

    factory.stamps_request_id = True
    logging.setLogRecordFactory(factory)


def forget_request_id(**kwargs) -> None:
    """`request_finished` receiver: the request id lives until the response is
    closed, so Django's own "Not Found"/"Internal Server Error" log lines, written
    after the middleware chain returned, still carry it."""
    _request_id.set("-")


class RequestIdMiddleware:
    """Take the caller's `X-Request-Id` when it is a sane token, else generate one;
    expose it to logs and services and echo it on every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-Id", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        # Reset by `forget_request_id` when the response is closed, not here.
        _request_id.set(request_id)
        response = self.get_response(request)
        response["X-Request-Id"] = request_id
        return response


class ApiBodyLimitMiddleware:
    """Refuse oversized API bodies before anything parses them (413)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_api_path(request.path):
            raw_length = request.META.get("CONTENT_LENGTH") or "0"
            try:
                length = int(raw_length)
            except ValueError:
                return JsonResponse(bad_request_body("Invalid Content-Length."), status=400)
            if length > settings.ARCADIA_MAX_BODY_BYTES:
                return JsonResponse(
                    {
                        "error": "payload_too_large",
                        "max_bytes": settings.ARCADIA_MAX_BODY_BYTES,
                    },
                    status=413,
                )
        return self.get_response(request)


_GENERIC_ERRORS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    500: "server_error",
}


class ApiJsonErrorsMiddleware:
    """Under /api/ every error is JSON: rewrite Django's HTML error pages (unknown
    route, CSRF, uncaught exception) into `{"error": ...}` bodies."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not is_api_path(request.path) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        return self._json_error(response.status_code, response)

    def process_exception(self, request, exception):
        if not is_api_path(request.path):
            return None
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return JsonResponse({"error": "server_error"}, status=500)

    @staticmethod
    def _json_error(status: int, original: HttpResponse) -> HttpResponse:
        code = _GENERIC_ERRORS.get(status, "error")
        replacement = HttpResponse(
            json.dumps({"error": code}), status=status, content_type="application/json"
        )
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in original:
                replacement[header] = original[header]
        return replacement
