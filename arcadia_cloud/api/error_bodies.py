"""Error bodies answered both by the exception handler and by middleware (which
runs outside DRF and cannot raise into the handler): written once, here. No
imports of DRF, so the logging set-up can load the middleware early."""

from __future__ import annotations


def bad_request_body(detail) -> dict:
    return {"error": "bad_request", "detail": detail}


def throttled_body(wait: int) -> dict:
    return {"error": "throttled", "retry_after": wait}
