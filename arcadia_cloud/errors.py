"""Domain errors: raised by services, carrying data, translated to HTTP in one place
(`arcadia_cloud.api.exceptions`). Each declares its category, not an HTTP code."""

from __future__ import annotations


class DomainError(Exception):
    #: one of: "invalid" (422), "conflict" (409), "forbidden" (403), "not_found" (404)
    category = "invalid"
    code = "domain_error"

    def body(self) -> dict:
        return {"error": self.code}


class NotFound(DomainError):
    category = "not_found"
    code = "not_found"


class Forbidden(DomainError):
    category = "forbidden"
    code = "forbidden"


# The bodies of errors answered both by the exception handler and by middleware
# (which runs outside DRF and cannot raise into the handler), and by domain
# errors of the bad-request kind: written once, here.


def bad_request_body(detail) -> dict:
    return {"error": "bad_request", "detail": detail}


def throttled_body(wait: int) -> dict:
    return {"error": "throttled", "retry_after": wait}
