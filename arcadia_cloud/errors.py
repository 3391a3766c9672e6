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
