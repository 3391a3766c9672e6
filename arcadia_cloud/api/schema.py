"""OpenAPI conventions every operation shares, documented once (not per view).

- bearer-token security scheme for `BearerTokenAuthentication`;
- `X-Request-Id` (optional request header, echoed on every response);
- every operation: 400 (a charset, header or query value that cannot be
  used) and 503 with `Retry-After` (the database did not answer);
- authenticated operations: 401, 403 (a controller identity may use only the
  routes that let it) and 429 (with `Retry-After`);
- every POST: `Idempotency-Key` (its pattern) and the answers it adds (400
  malformed key, 409 key in use, 422 key reused), 413 oversized body, 415 not JSON;
- the regions a deployment may be created in (`ARCADIA_REGIONS`, read when the
  document is generated);
- OpenAPI links: the id a deployment (or a webhook endpoint) is created (or
  shown, or changed) with leads to its other operations, so clients and
  stateful fuzzers can follow them.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)

from arcadia_cloud.api.idempotency import KEY_PATTERN, MAX_KEY_LENGTH


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "arcadia_cloud.auth.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token: `Authorization: Bearer arc_...`.",
        }


class RegionFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "arcadia_cloud.api.fields.RegionField"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "enum": list(settings.ARCADIA_REGIONS)}


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
            for parameter in parameters:
                if parameter.get("in") == "query":
                    # `?state=` is the same as leaving `state` out (filters, limit, cursor).
                    parameter["allowEmptyValue"] = True
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
            responses.setdefault(
                "400", _error("Malformed request: a charset, header or query value it cannot use")
            )
            responses.setdefault(
                "503",
                _error(
                    "The database did not answer; nothing was written. Retry after Retry-After.",
                    **{"Retry-After": {"schema": {"type": "integer"}}},
                ),
            )
            if operation.get("security") != [{}] and operation.get("security"):
                responses.setdefault("401", _error("Missing, unknown, expired or revoked token"))
                # Every authenticated route may refuse a controller identity
                # (`arcadia_cloud.api.permissions.ControllerMay`).
                responses.setdefault(
                    "403", _error("Forbidden (e.g. a controller identity outside its routes)")
                )
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
                        "schema": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_KEY_LENGTH,
                            "pattern": KEY_PATTERN,
                        },
                    }
                )
                responses["400"]["description"] = "Malformed request or Idempotency-Key"
                responses.setdefault("409", _error("Idempotency-Key in use by a request in flight"))
                responses.setdefault("413", _error("Body larger than the limit"))
                responses.setdefault("415", _error("Body is not application/json"))
                responses.setdefault("422", _error("Invalid values, or Idempotency-Key reused"))
            for response in responses.values():
                response.setdefault("headers", {})["X-Request-Id"] = _REQUEST_ID_HEADER
    _add_links(result)
    return result


# ---- links: operation id -> (status, links), each link to an operation id with its `id` --

_DEPLOYMENT_ID = "$response.body#/deployment/id"
_SAME_DEPLOYMENT = "$request.path.id"
_FROM_A_DEPLOYMENT = {
    "ShowDeployment": ("deployments_show", "The deployment"),
    "DeploymentResources": ("deployments_resources_list", "Its resources"),
    "CreateResource": ("deployments_resources_create", "Create a resource"),
    "DeploymentEntitlements": ("deployments_entitlements", "Its limits and use per kind"),
    "DeploymentEvents": ("deployments_events", "Its full history"),
    "TransitionDeployment": ("deployments_transition", "Move it to another state"),
    "SubscribeDeployment": ("deployments_subscribe", "Subscribe it to a plan"),
}
_FROM_A_SUBSCRIPTION = {
    "ShowDeployment": ("deployments_show", "The deployment with its subscription"),
    "AttachAddon": ("deployments_subscription_attach_addon", "Attach an add-on"),
    "ChangePlan": ("deployments_subscription_change_plan", "Move it to another plan"),
}
_ENDPOINT_ID = "$response.body#/endpoint/id"
_FROM_A_WEBHOOK_ENDPOINT = {
    "ShowEndpoint": ("webhook_endpoints_show", "The endpoint"),
    "UpdateEndpoint": ("webhook_endpoints_update", "Change or disable it"),
    "RotateSecret": ("webhook_endpoints_rotate_secret", "A new signing secret"),
    "Deliveries": ("webhook_endpoints_deliveries", "Its delivery log"),
    "Replay": ("webhook_endpoints_replay", "Deliver past events again"),
    "DeleteEndpoint": ("webhook_endpoints_delete", "Delete it"),
}
_RESOURCE_ID = "$response.body#/resource/id"
_FROM_A_RESOURCE = {
    "ShowResource": ("resources_show", "The resource"),
    "UpdateResource": ("resources_update", "Change its qty or desired state"),
    "DeleteResource": ("resources_delete", "Ask for it to be deleted"),
}
#: operation id -> (status, links) to operations taking the resource's `resource_id`.
RESOURCE_LINKS = {
    "deployments_resources_create": ("201", _FROM_A_RESOURCE),
    "resources_show": ("200", _FROM_A_RESOURCE),
    "resources_update": ("200", _FROM_A_RESOURCE),
}
LINKS = {
    "deployments_create": ("201", _FROM_A_DEPLOYMENT, _DEPLOYMENT_ID),
    "deployments_show": ("200", _FROM_A_DEPLOYMENT, _DEPLOYMENT_ID),
    "deployments_transition": ("200", _FROM_A_DEPLOYMENT, _DEPLOYMENT_ID),
    "deployments_subscribe": ("201", _FROM_A_SUBSCRIPTION, _SAME_DEPLOYMENT),
    "deployments_subscription_attach_addon": ("201", _FROM_A_SUBSCRIPTION, _SAME_DEPLOYMENT),
    "deployments_subscription_change_plan": ("200", _FROM_A_SUBSCRIPTION, _SAME_DEPLOYMENT),
    "webhook_endpoints_create": ("201", _FROM_A_WEBHOOK_ENDPOINT, _ENDPOINT_ID),
    "webhook_endpoints_show": ("200", _FROM_A_WEBHOOK_ENDPOINT, _ENDPOINT_ID),
    "webhook_endpoints_update": ("200", _FROM_A_WEBHOOK_ENDPOINT, _ENDPOINT_ID),
}


def _add_links(result) -> None:
    operations = {
        operation.get("operationId"): operation
        for path_operations in result.get("paths", {}).values()
        for operation in path_operations.values()
    }
    for source, (status, targets, id_expression) in LINKS.items():
        response = operations.get(source, {}).get("responses", {}).get(status)
        if response is None:
            continue
        response["links"] = {
            name: {
                "operationId": target,
                "parameters": {"id": id_expression},
                "description": description,
            }
            for name, (target, description) in targets.items()
            if target in operations
        }
    for source, (status, targets) in RESOURCE_LINKS.items():
        response = operations.get(source, {}).get("responses", {}).get(status)
        if response is None:
            continue
        response["links"] = {
            name: {
                "operationId": target,
                "parameters": {"resource_id": _RESOURCE_ID},
                "description": description,
            }
            for name, (target, description) in targets.items()
            if target in operations
        }
