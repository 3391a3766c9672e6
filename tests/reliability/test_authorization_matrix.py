"""Authorization matrix generated from the URLconf: every route under /api/v1/ x
every kind of caller x (own, foreign, nonexistent) object, with the expected status.

The controller (a provisioning controller's identity) sees every tenant but may
only read deployments, resources and the feed and report resource status:
every other route answers it 403, the same for any object.

A route added to the URLconf without a row in EXPECTED fails
`test_every_api_route_has_a_row` (and its own parametrized case). For a caller
who may not see an object, the foreign object's answer must be byte-identical
to a nonexistent one's, and a refused request must change nothing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from arcadia_cloud.models import ApiToken
from arcadia_cloud.services import create_identity
from deployments.models import CloudResource, Deployment, DeploymentEvent
from deployments.resources import create_resource
from deployments.scheduling import schedule_plan_change
from deployments.services import create_subscription
from subscriptions.models import PendingChange, PlanChange, Subscription, SubscriptionAddon
from tests.factories import SYSTEM_ACTOR, make_deployment, token_for
from tests.reliability.conftest import bearer, post_json
from webhooks.models import Delivery, EndpointSecret, WebhookEndpoint
from webhooks.services import create_endpoint

API_PREFIX = "api/v1/"
ROLES = [
    "anonymous",
    "revoked",
    "expired",
    "tenant",
    "other_tenant",
    "platform_admin",
    "controller",
]
OBJECTS = ["own", "foreign", "missing"]
UNAUTHENTICATED = {"anonymous", "revoked", "expired"}


def api_routes() -> list[tuple[str, str, tuple[str, ...]]]:
    """(url name, METHOD, path kwargs) of every route under /api/v1/, read from the URLconf."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern

    routes = []
    for path, pattern in walk(get_resolver().url_patterns):
        if not path.startswith(API_PREFIX):
            continue
        callback = pattern.callback
        actions = getattr(callback, "actions", None)
        if actions:
            methods = list(actions)
        else:
            view = getattr(callback, "cls", None) or callback.view_class
            methods = [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)]
        kwargs = tuple(sorted(pattern.pattern.regex.groupindex))
        routes.extend((pattern.name, m.upper(), kwargs) for m in methods)
    return sorted(routes)


@dataclass(frozen=True)
class Row:
    """Expected status per role; for object routes, per role a tuple (own, foreign, missing)."""

    statuses: dict
    body: dict | None = None
    objects: bool = False
    #: "subscribed": both deployments have a subscription before the request;
    #: "resources": and a resource each
    given: str | None = None
    #: the demo catalog is loaded first
    catalog: bool = False
    #: what the route's `pk` names: a deployment, or a webhook endpoint
    target: str = "deployment"


def _same(status):
    return dict.fromkeys(ROLES, status)


def _authed(tenant, other, admin, controller):
    return {
        **dict.fromkeys(UNAUTHENTICATED, 401),
        "tenant": tenant,
        "other_tenant": other,
        "platform_admin": admin,
        "controller": controller,
    }


_SCOPED = (200, 404, 404)  # own, foreign, missing
_OBJ_401 = (401, 401, 401)
#: A controller outside its routes: refused before any lookup, whatever the object.
_OBJ_403 = (403, 403, 403)
#: A reader of every tenant (platform admin, controller on its routes).
_EVERY_TENANT = (200, 200, 404)


def _per_object(ok: int, *, controller=_OBJ_403) -> dict:
    """An object route whoever sees the deployment may use (tenant scope, or
    admin); a controller is refused unless the route lets it."""
    return {
        **dict.fromkeys(UNAUTHENTICATED, _OBJ_401),
        "tenant": (ok, 404, 404),
        "other_tenant": (ok, 404, 404),
        "platform_admin": (ok, ok, 404),
        "controller": controller,
    }


#: A webhook endpoint route: its tenant's identities and platform admins (a
#: controller is refused).
_HOOK = {
    **dict.fromkeys(UNAUTHENTICATED, _OBJ_401),
    "tenant": _SCOPED,
    "other_tenant": _SCOPED,
    "platform_admin": (200, 200, 404),
    "controller": _OBJ_403,
}

EXPECTED: dict[tuple[str, str], Row] = {
    ("me", "GET"): Row(_authed(200, 200, 200, 200)),
    ("schema", "GET"): Row(_same(200)),
    ("docs", "GET"): Row(_same(200)),
    ("deployment-list", "GET"): Row(_authed(200, 200, 200, 200)),
    # The feed is scoped, not refused: each caller reads its own tenant's events
    # (a controller and a platform admin: every tenant's).
    ("events", "GET"): Row(_authed(200, 200, 200, 200)),
    # Creating in the tenant "acme": its identity may, another tenant's may not (403).
    ("deployment-list", "POST"): Row(
        _authed(201, 403, 201, 403),
        body={
            "slug": "matrix",
            "display_name": "Matrix",
            "region": "us-east-1",
            "tenant_id": "{acme}",
        },
    ),
    ("deployment-detail", "GET"): Row(_per_object(200, controller=_EVERY_TENANT), objects=True),
    ("deployment-events", "GET"): Row(_per_object(200, controller=_EVERY_TENANT), objects=True),
    ("deployment-transition", "POST"): Row(
        _per_object(200), body={"to_state": "cancelled", "reason": "matrix"}, objects=True
    ),
    ("plan-list", "GET"): Row(_authed(200, 200, 200, 403), catalog=True),
    ("addon-list", "GET"): Row(_authed(200, 200, 200, 403), catalog=True),
    ("deployment-subscribe", "POST"): Row(
        _per_object(201),
        body={"plan_code": "studio", "addons": ["storage_50gb"]},
        objects=True,
        catalog=True,
    ),
    ("deployment-subscription-addons", "POST"): Row(
        _per_object(201),
        body={"addon_code": "seats_5"},
        objects=True,
        given="subscribed",
        catalog=True,
    ),
    ("deployment-subscription-change-plan", "POST"): Row(
        _per_object(200),
        body={"plan_code": "team"},
        objects=True,
        given="subscribed",
        catalog=True,
    ),
    # The line is the target deployment's own add-on line (a line of the
    # other deployment, or none, is as missing as the deployment).
    ("deployment-subscription-addon", "DELETE"): Row(
        _per_object(200), objects=True, given="subscribed", catalog=True
    ),
    ("deployment-statements", "GET"): Row(_per_object(200), objects=True),
    ("deployment-subscription-cancel", "POST"): Row(
        _per_object(200),
        body={"at_period_end": True, "reason": "matrix"},
        objects=True,
        given="subscribed",
        catalog=True,
    ),
    # The change is the target deployment's own scheduled change.
    ("deployment-subscription-pending-change", "DELETE"): Row(
        _per_object(200), objects=True, given="scheduled", catalog=True
    ),
    # Webhook endpoints: every caller manages its own tenant's (a platform
    # admin creates platform-wide ones and sees every one).
    ("webhook-endpoint-list", "GET"): Row(_authed(200, 200, 200, 403)),
    ("webhook-endpoint-list", "POST"): Row(
        _authed(201, 201, 201, 403), body={"url": "http://127.0.0.1:8139/matrix"}
    ),
    ("webhook-endpoint-detail", "GET"): Row(_HOOK, objects=True, target="endpoint"),
    ("webhook-endpoint-detail", "PATCH"): Row(
        _HOOK, body={"description": "matrix"}, objects=True, target="endpoint"
    ),
    ("webhook-endpoint-detail", "DELETE"): Row(_HOOK, objects=True, target="endpoint"),
    ("webhook-endpoint-rotate-secret", "POST"): Row(_HOOK, objects=True, target="endpoint"),
    ("webhook-endpoint-deliveries", "GET"): Row(_HOOK, objects=True, target="endpoint"),
    # The delivery is the target endpoint's own (another endpoint's, or none,
    # is as missing as the endpoint).
    ("webhook-delivery-retry", "POST"): Row(_HOOK, objects=True, target="endpoint"),
    ("webhook-endpoint-replay", "POST"): Row(
        _HOOK, body={"after": "1.0"}, objects=True, target="endpoint"
    ),
    ("deployment-statements-upcoming", "GET"): Row(
        _per_object(200), objects=True, given="subscribed", catalog=True
    ),
    # -- resources and entitlements ---------------------------------------------------
    ("deployment-resources", "GET"): Row(
        _per_object(200, controller=_EVERY_TENANT), objects=True, given="resources", catalog=True
    ),
    ("deployment-resources", "POST"): Row(
        _per_object(201),
        body={"kind": "storage_gb", "name": "matrix", "qty": 1},
        objects=True,
        given="subscribed",
        catalog=True,
    ),
    ("deployment-entitlements", "GET"): Row(
        _per_object(200), objects=True, given="resources", catalog=True
    ),
    # Scoped, not refused: each caller lists what it sees.
    ("resource-list", "GET"): Row(_authed(200, 200, 200, 200), given="resources", catalog=True),
    # The resource is the target deployment's own (of a missing deployment: none).
    ("resource-detail", "GET"): Row(
        _per_object(200, controller=_EVERY_TENANT), objects=True, given="resources", catalog=True
    ),
    ("resource-detail", "PATCH"): Row(
        _per_object(200), body={"qty": 2}, objects=True, given="resources", catalog=True
    ),
    ("resource-detail", "DELETE"): Row(
        _per_object(200), objects=True, given="resources", catalog=True
    ),
    # Only controllers report: anyone else is refused whatever the object.
    ("resource-status", "POST"): Row(
        {
            **dict.fromkeys(UNAUTHENTICATED, _OBJ_401),
            "tenant": _OBJ_403,
            "other_tenant": _OBJ_403,
            "platform_admin": _OBJ_403,
            "controller": _EVERY_TENANT,
        },
        body={"observed_state": "running", "observed_generation": 1},
        objects=True,
        given="resources",
        catalog=True,
    ),
}

ROUTES = api_routes()


def test_every_api_route_has_a_row():
    found = {(name, method) for name, method, _ in ROUTES}
    assert found - set(EXPECTED) == set(), "routes without an authorization row"
    assert set(EXPECTED) - found == set(), "rows for routes that no longer exist"


def _hook(tenant) -> WebhookEndpoint:
    """A webhook endpoint of `tenant` with one finished delivery."""
    endpoint = create_endpoint(
        actor=SYSTEM_ACTOR, url="http://127.0.0.1:8139/hook", tenant_id=tenant.pk
    ).endpoint
    now = timezone.now()
    Delivery.objects.create(
        endpoint=endpoint,
        event_id=1,
        position=1,
        event_type="deployment.created",
        status="failed",
        scheduled_at=now,
        created_at=now,
    )
    return endpoint


@pytest.fixture
def world(tenant, other_tenant, tenant_identity, other_identity, platform_admin, settings):
    """Callers and objects. 'own' is the caller's tenant's deployment (or webhook
    endpoint; acme's for callers without a tenant), 'foreign' the other tenant's."""
    settings.ARCADIA_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    controller = create_identity(email="controller@arcadia.example", controller=True)
    acme = make_deployment(tenant, slug="acme-app")
    globex = make_deployment(other_tenant, slug="globex-app")
    hooks = {"own": _hook(tenant), "foreign": _hook(other_tenant)}
    revoked = token_for(tenant_identity, name="revoked")
    expired = token_for(tenant_identity, name="expired")
    ApiToken.objects.filter(name="revoked").update(revoked_at=timezone.now())
    ApiToken.objects.filter(name="expired").update(expires_at=timezone.now() - timedelta(seconds=1))
    clients = {
        "anonymous": bearer(None),
        "revoked": bearer(revoked),
        "expired": bearer(expired),
        "tenant": bearer(token_for(tenant_identity)),
        "other_tenant": bearer(token_for(other_identity)),
        "platform_admin": bearer(token_for(platform_admin)),
        "controller": bearer(token_for(controller)),
    }
    objects = {
        role: {
            "own": globex if role == "other_tenant" else acme,
            "foreign": acme if role == "other_tenant" else globex,
        }
        for role in ROLES
    }
    endpoints = {
        role: {
            "own": hooks["foreign"] if role == "other_tenant" else hooks["own"],
            "foreign": hooks["own"] if role == "other_tenant" else hooks["foreign"],
        }
        for role in ROLES
    }
    return {
        "clients": clients,
        "objects": objects,
        "endpoints": endpoints,
        "acme": tenant,
        "deployments": [acme, globex],
    }


def _subscribe_all(world):
    for deployment in world["deployments"]:
        create_subscription(
            deployment_id=deployment.pk,
            plan_code="studio",
            addon_codes=["storage_50gb"],
            actor=SYSTEM_ACTOR,
        )


def _schedule_all(world):
    for deployment in world["deployments"]:
        schedule_plan_change(deployment_id=deployment.pk, plan_code="team", actor=SYSTEM_ACTOR)


def _add_resources(world):
    for deployment in world["deployments"]:
        create_resource(
            deployment_id=deployment.pk,
            kind="storage_gb",
            name="disk",
            qty=1,
            actor=SYSTEM_ACTOR,
        )


def _path_kwargs(kwargs: tuple[str, ...], target) -> dict:
    """The route's path values for `target` (None: an object that does not exist)."""
    values = {}
    for name in kwargs:
        if name == "pk":
            values[name] = target.pk if target is not None else uuid.uuid4()
        elif name == "line_id":
            line = (
                SubscriptionAddon.objects.filter(subscription__deployment=target).first()
                if target is not None
                else None
            )
            values[name] = line.pk if line is not None else 2**40
        elif name == "change_id":
            change = (
                PendingChange.objects.filter(subscription__deployment=target).first()
                if target is not None
                else None
            )
            values[name] = change.pk if change is not None else 2**40
        elif name == "delivery_id":
            delivery = (
                Delivery.objects.filter(endpoint=target).first() if target is not None else None
            )
            values[name] = delivery.pk if delivery is not None else 2**40
        elif name == "resource_id":
            resource = (
                CloudResource.objects.filter(deployment=target).first()
                if target is not None
                else None
            )
            values[name] = resource.pk if resource is not None else uuid.uuid4()
        else:
            raise AssertionError(f"no value for the path parameter {name!r}")
    return values


def _snapshot():
    return (
        sorted(Deployment.objects.values_list("id", "state", "tenant_id", "updated_at")),
        DeploymentEvent.objects.count(),
        sorted(Subscription.objects.values_list("id", "status", "plan_version_id")),
        SubscriptionAddon.objects.count(),
        SubscriptionAddon.objects.filter(detached_at__isnull=False).count(),
        sorted(PendingChange.objects.values_list("id", "withdrawn_at", "applied_at")),
        PlanChange.objects.count(),
        sorted(WebhookEndpoint.objects.values_list("id", "url", "description", "enabled")),
        sorted(EndpointSecret.objects.values_list("id", "expires_at")),
        sorted(Delivery.objects.values_list("id", "status", "next_attempt_at")),
        sorted(
            CloudResource.objects.values_list(
                "id", "qty", "desired_state", "generation", "observed_generation"
            )
        ),
    )


def _call(client, method, path, body, world):
    if method == "GET":
        return client.get(path, HTTP_ACCEPT="application/json" if "docs" not in path else "*/*")
    if method == "DELETE":
        return client.delete(path)
    payload = {k: (str(world["acme"].id) if v == "{acme}" else v) for k, v in (body or {}).items()}
    if method == "PATCH":
        return client.patch(path, data=json.dumps(payload), content_type="application/json")
    return post_json(client, path, payload)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("name", "method", "kwargs"), ROUTES, ids=[f"{m} {n}" for n, m, _ in ROUTES]
)
def test_route_answers_each_caller_as_expected(world, name, method, kwargs, role):
    row = EXPECTED.get((name, method))
    assert row is not None, f"no authorization row for {method} {name}"
    client = world["clients"][role]
    if row.catalog:
        call_command("seed_catalog", verbosity=0)
    if row.given in ("subscribed", "scheduled", "resources"):
        _subscribe_all(world)
    if row.given == "scheduled":
        _schedule_all(world)
    if row.given == "resources":
        _add_resources(world)
    if not row.objects:
        before = _snapshot()
        response = _call(client, method, reverse(name), row.body, world)
        assert response.status_code == row.statuses[role], response.content
        if response.status_code >= 400:
            assert response.json()["error"]
            assert _snapshot() == before, "a refused request changed the database"
        return

    answers = {}
    for which, expected in zip(OBJECTS, row.statuses[role], strict=True):
        objects = world["endpoints" if row.target == "endpoint" else "objects"][role]
        target = objects.get(which)
        before = _snapshot()
        response = _call(
            client, method, reverse(name, kwargs=_path_kwargs(kwargs, target)), row.body, world
        )
        assert response.status_code == expected, (which, response.content)
        if response.status_code >= 400:
            assert _snapshot() == before, f"a refused request on the {which} object wrote"
        answers[which] = response
    # No existence oracle: where the foreign object is hidden, it answers exactly
    # like an id that does not exist.
    if answers["foreign"].status_code >= 400:
        assert answers["foreign"].status_code == answers["missing"].status_code
        assert answers["foreign"].content == answers["missing"].content
        assert answers["foreign"]["Content-Type"] == answers["missing"]["Content-Type"]
