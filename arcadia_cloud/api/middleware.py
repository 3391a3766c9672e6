"""Request plumbing shared by every endpoint: request ids, refusal of requests
that cannot be read, body size limit, JSON error bodies for everything under
/api/ (Django's own 404/405/500 pages are HTML) and a 503 for a lost database."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

from arcadia_cloud.errors import bad_request_body
from arcadia_cloud.wsgi_handler import body_limit

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


class ReleaseViewMiddleware:
    """Free what an API request made as soon as its answer is written, by
    reference counting, not later by the cyclic garbage collector.

    DRF ties each request's objects into reference cycles: the view holds
    the request, the response, the paginator and bound methods of itself;
    the request's parser context holds the view and the request; the
    response's renderer context holds both and the response. Nothing a
    request made (a list page: ~170 dicts and lists, its rows among them) is
    freed until the collector runs, and under gunicorn's threads, where
    other requests are in flight whenever it does, its passes promote their
    objects into the older generations: ~110 µs of the list's CPU a request,
    measured. Once the response is rendered (its bytes are all that is
    sent) nothing reads the view or those contexts again, so they are
    emptied here, outermost but for the request id, and the objects go when
    the response does. `tests/foundation/test_no_cycles.py` pins that no
    request leaves its own objects to the collector."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        context = getattr(response, "renderer_context", None)
        if context and getattr(response, "is_rendered", False):
            view = context.get("view")
            if view is not None:
                vars(view).clear()
            drf_request = context.get("request")
            if drf_request is not None:
                drf_request.parser_context = None
            context.pop("response", None)  # the response itself
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


# NUL (PostgreSQL refuses it in text) and lone surrogates (not UTF-8).
_UNUSABLE = re.compile("[\x00\ud800-\udfff]")

_BODY_REFUSALS = {
    400: ("bad_request", "The chunked request body could not be read."),
    411: ("length_required", "Send a Content-Length: this server cannot read chunked bodies."),
    413: ("payload_too_large", None),
}


def _refusal(request, status: int, body: dict, text: str) -> HttpResponse:
    if is_api_path(request.path):
        return JsonResponse(body, status=status)
    return HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")


class RequestGuardMiddleware:
    """Refuse, before anything reads them, requests whose parts cannot be used:
    a charset that is no ASCII-compatible text encoding and a chunked body that
    could not be read (both recorded by `arcadia_cloud.wsgi_handler`), NUL bytes
    or lone surrogates in a header or cookie (every route) or in the API's query
    string (400) or path (404, as for any path no route matches). The admin
    refuses its own bad filter values, with a message (`console.safety`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refusal = self._refusal(request)
        return refusal if refusal is not None else self.get_response(request)

    def _refusal(self, request) -> HttpResponse | None:
        charset = getattr(request, "refused_charset", None)
        if charset is not None:
            message = f"Unknown or unusable charset {charset[:40]!r}: send UTF-8."
            return _refusal(request, 400, bad_request_body({"Content-Type": [message]}), message)
        status = getattr(request, "refused_body", None)
        if status is not None:
            code, message = _BODY_REFUSALS[status]
            if status == 413:
                limit = body_limit(request.path)
                message = f"The request body is larger than {limit} bytes."
                return _refusal(request, 413, {"error": code, "max_bytes": limit}, message)
            return _refusal(request, status, {"error": code, "detail": message}, message)
        for name, value in request.META.items():
            if (name.startswith("HTTP_") or name == "CONTENT_TYPE") and _UNUSABLE.search(value):
                header = name.removeprefix("HTTP_").replace("_", "-").title()
                return self._unusable(request, header)
        # Cookie values may carry octal escapes ("\\000"), unquoted into NUL.
        for name, value in request.COOKIES.items():
            if _UNUSABLE.search(name) or _UNUSABLE.search(value):
                return self._unusable(request, "Cookie")
        if not is_api_path(request.path):
            return None
        if _UNUSABLE.search(request.path):
            # No route holds one (an id that is not a UUID is a 404 too), and
            # nothing below (the idempotency record) must try to store it.
            return JsonResponse({"error": "not_found"}, status=404)
        for key, values in request.GET.lists():
            if _UNUSABLE.search(key):
                return self._unusable(request, "query")
            if any(_UNUSABLE.search(v) for v in values):
                return self._unusable(request, key)  # the parameter, named
        return None

    @staticmethod
    def _unusable(request, where: str) -> HttpResponse:
        message = "NUL bytes and lone surrogates are not allowed."
        return _refusal(request, 400, bad_request_body({where: [message]}), f"{where}: {message}")


# ---- errors as answers ----------------------------------------------------------

#: Retry-After (seconds) on a 503 for a lost database connection.
UNAVAILABLE_RETRY_AFTER = 1


def database_unavailable(exc: BaseException | None) -> bool:
    """A lost or refused database connection (psycopg's OperationalError covers
    a killed backend, a server shut down, a refused connection; InterfaceError
    a connection already closed): nothing was half-written, the client may retry."""
    return isinstance(exc, OperationalError | InterfaceError)


def remember_exception(sender, request=None, **kwargs) -> None:
    """`got_request_exception` receiver: Django turns an exception raised in a
    middleware into a 500 page on the spot, so the answer alone no longer says
    what happened. Keep the exception on the request for `ApiJsonErrorsMiddleware`."""
    if request is not None:
        request.arcadia_exception = sys.exc_info()[1]


def unavailable(request) -> HttpResponse:
    if is_api_path(request.path):
        response = JsonResponse({"error": "unavailable"}, status=503)
    else:
        response = HttpResponse(
            "Service unavailable: the database did not answer. Retry in a moment.\n",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
    return response


_GENERIC_ERRORS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    500: "server_error",
    503: "unavailable",
}


class ApiJsonErrorsMiddleware:
    """The outermost error handling (only the request id is outside it), so it
    sees every answer, whichever middleware or view produced it:

    - a lost database connection, raised anywhere, is a 503 with Retry-After
      (`{"error": "unavailable"}` under /api/, plain text elsewhere);
    - under /api/ every other error is JSON: Django's HTML pages (unknown
      route, CSRF, an exception in a view or a middleware) become
      `{"error": ...}` bodies, headers kept.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 500 and database_unavailable(
            getattr(request, "arcadia_exception", None)
        ):
            return unavailable(request)
        if not is_api_path(request.path) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        return self._json_error(response.status_code, response)

    def process_exception(self, request, exception):
        if database_unavailable(exception):
            logger.warning(
                "Database unavailable on %s %s: %s", request.method, request.path, exception
            )
            return unavailable(request)
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
        for header, value in original.items():
            if header.lower() not in {"content-type", "content-length"}:
                replacement[header] = value
        return replacement


# ---- the admin's middleware, kept off the API path ------------------------------


class _OutsideApi:
    """Runs `inner` (a Django middleware) for every path except the API's.

    Sessions, the auth user from the session, messages, CSRF and clickjacking
    protection serve the admin (a browser with a cookie); the API
    authenticates each request by its bearer token, has no session or form,
    and answers JSON. On /api/ the request goes straight to the next
    middleware: none of their work (a session lookup, CSRF cookie checks,
    response headers) is paid on the hot path. The inner middleware's hooks
    (`process_view`, ...) are exposed only if it has them, since Django
    collects them from the instance, and they skip the API path the same way.

    The class made by `outside_api` also subclasses the middleware it wraps,
    so Django's checks that look for it (the admin's) still find it.
    """

    inner_class: type

    def __init__(self, get_response):
        self.get_response = get_response
        self.inner = self.inner_class(get_response)
        for hook in ("process_view", "process_exception", "process_template_response"):
            if hasattr(self.inner, hook):
                # an instance attribute: shadows the inherited, unwrapped one
                setattr(self, hook, self._outside_api(getattr(self.inner, hook)))

    def __call__(self, request):
        if is_api_path(request.path):
            return self.get_response(request)
        return self.inner(request)

    @staticmethod
    def _outside_api(hook):
        def skipped_on_api(request, *args):
            if is_api_path(request.path):
                return None
            return hook(request, *args)

        return skipped_on_api


def outside_api(middleware: type) -> type:
    """`middleware`, not run under /api/ (see `_OutsideApi`)."""
    return type(
        f"{middleware.__name__}OutsideApi",
        (_OutsideApi, middleware),
        {"inner_class": middleware, "__doc__": f"{middleware.__name__}, not under /api/."},
    )
