"""OpenAPI conventions every operation shares, documented once (not per view).

- bearer-token security scheme for `BearerTokenAuthentication`;
- `X-Request-Id` (optional request header, echoed on every response);
- authenticated operations: 401 and 429 (with `Retry-After`);
- every POST: `Idempotency-Key` and the answers it adds (400 malformed key,
  409 key in use, 422 key reused), 413 oversized body, 415 not JSON.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from arcadia_cloud.api.idempotency import MAX_KEY_LENGTH


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "arcadia_cloud.auth.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token: `Authorization: Bearer arc_...`.",
        }


ERROR = "Error"
_REQUEST_ID_HEADER = {
    "description": "The caller's X-Request-Id, or one generated for this request.",
    "schema": {"type": "string"},
}


def _error(description: str, **headers) -> dict:
    response = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR}"}}},
    }
    if headers:
        response["headers"] = headers
    return response


def document_api_conventions(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR] = {
        "type": "object",
        "properties": {"error": {"description": "A code, or field -> messages."}},
        "required": ["error"],
    }
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            parameters = operation.setdefault("parameters", [])
            parameters.append(
                {
                    "in": "header",
                    "name": "X-Request-Id",
                    "required": False,
                    "description": "Correlation id (1-128 of A-Z a-z 0-9 . _ : -); "
                    "anything else is replaced by a generated one.",
                    "schema": {"type": "string"},
                }
            )
            responses = operation.setdefault("responses", {})
            if operation.get("security") != [{}] and operation.get("security"):
                responses.setdefault("401", _error("Missing, unknown, expired or revoked token"))
                responses.setdefault(
                    "429",
                    _error(
                        "Rate limit of this token exceeded",
                        **{"Retry-After": {"schema": {"type": "integer"}}},
                    ),
                )
            if method == "post":
                parameters.append(
                    {
                        "in": "header",
                        "name": "Idempotency-Key",
                        "required": False,
                        "description": "Retry safely: the same key and body replay the first "
                        "answer (with `Idempotent-Replayed: true`) and have no second effect. "
                        "Kept at least 24 hours, per identity.",
                        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
                    }
                )
                responses.setdefault("400", _error("Malformed request or Idempotency-Key"))
                responses.setdefault("409", _error("Idempotency-Key in use by a request in flight"))
                responses.setdefault("413", _error("Body larger than the limit"))
                responses.setdefault("415", _error("Body is not application/json"))
                responses.setdefault("422", _error("Invalid values, or Idempotency-Key reused"))
            for response in responses.values():
                response.setdefault("headers", {})["X-Request-Id"] = _REQUEST_ID_HEADER
    return result
