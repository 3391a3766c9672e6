"""Subscription endpoints under a deployment: parse, call one service, render.

The deployment is looked up through the tenant scope first, so another
tenant's deployment answers 404 exactly like a missing one. Rights beyond
visibility (tenant identities of the deployment, platform admins) follow from
that scope: whoever may see the deployment may manage its subscription.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from arcadia_cloud.actors import Actor
from arcadia_cloud.errors import NotFound
from deployments.api.subscription_serializers import (
    AttachAddonIn,
    CancelIn,
    ChangePlanIn,
    SubscribeIn,
    SubscriptionEnvelope,
    SubscriptionErrorOut,
)
from deployments.scheduling import (
    cancel_subscription,
    schedule_plan_change,
    withdraw_pending_change,
)
from deployments.selectors import get_deployment_visible_to
from deployments.services import (
    change_subscription_plan,
    create_subscription,
    detach_subscription_addon,
)
from subscriptions.errors import SubscriptionNotFound
from subscriptions.selectors import get_subscription_for_deployment
from subscriptions.services import attach_addon
from subscriptions.shapes import render_subscription


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(SubscriptionErrorOut, description=description)


COMMON = {
    400: _error("Malformed JSON"),
    401: _error("Missing or bad token"),
    404: _error("No such deployment (or another tenant's), or no such plan/version"),
}


def _rendered(deployment_id) -> dict:
    return {"subscription": render_subscription(get_subscription_for_deployment(deployment_id))}


class _DeploymentScoped(APIView):
    def deployment(self, request, pk):
        deployment = get_deployment_visible_to(Actor.from_api_request(request), pk)
        if deployment is None:
            raise NotFound()
        return deployment

    def subscription(self, request, pk):
        subscription = get_subscription_for_deployment(self.deployment(request, pk).pk)
        if subscription is None:
            raise SubscriptionNotFound()
        return subscription


class SubscribeView(_DeploymentScoped):
    @extend_schema(
        operation_id="deployments_subscribe",
        summary="Subscribe a deployment to a plan, with add-ons at today's prices",
        request=SubscribeIn,
        examples=[
            OpenApiExample(
                "A plan with an add-on",
                request_only=True,
                value={"plan_code": "studio", "addons": ["storage_50gb"]},
            ),
            OpenApiExample(
                "Unknown add-ons (nothing created)",
                response_only=True,
                status_codes=["422"],
                value={"error": "unknown_addons", "codes": ["no_such_addon"]},
            ),
        ],
        responses={
            201: SubscriptionEnvelope,
            409: _error("The deployment already has a subscription"),
            422: _error("Unknown add-ons (nothing created), bad input, or not subscribable"),
            **COMMON,
        },
    )
    def post(self, request, pk):
        deployment = self.deployment(request, pk)
        data = SubscribeIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        create_subscription(
            deployment_id=deployment.pk,
            plan_code=values["plan_code"],
            addon_codes=values.get("addons") or [],
            version=values.get("version"),
            actor=Actor.from_api_request(request),
        )
        return Response(_rendered(deployment.pk), status=status.HTTP_201_CREATED)


class AttachAddonView(_DeploymentScoped):
    @extend_schema(
        operation_id="deployments_subscription_attach_addon",
        summary="Attach one add-on to the subscription at today's price",
        request=AttachAddonIn,
        examples=[
            OpenApiExample("Five more seats", request_only=True, value={"addon_code": "seats_5"})
        ],
        responses={
            201: SubscriptionEnvelope,
            422: _error("Unknown add-on, cancelled subscription, currency mismatch, bad input"),
            **COMMON,
        },
    )
    def post(self, request, pk):
        subscription = self.subscription(request, pk)
        data = AttachAddonIn(data=request.data)
        data.is_valid(raise_exception=True)
        attach_addon(
            subscription=subscription,
            addon_code=data.validated_data["addon_code"],
            actor=Actor.from_api_request(request),
        )
        return Response(_rendered(subscription.deployment_id), status=status.HTTP_201_CREATED)


class ChangePlanView(_DeploymentScoped):
    @extend_schema(
        operation_id="deployments_subscription_change_plan",
        summary="Move the subscription to another plan version (recorded)",
        request=ChangePlanIn,
        examples=[
            OpenApiExample(
                "The team plan's active version", request_only=True, value={"plan_code": "team"}
            )
        ],
        responses={
            200: SubscriptionEnvelope,
            422: _error(
                "Already on that version, cancelled subscription, add-on lines in another "
                "currency, resources in use over the new version's limits (quota_exceeded), "
                "bad input"
            ),
            **COMMON,
        },
    )
    def post(self, request, pk):
        subscription = self.subscription(request, pk)
        data = ChangePlanIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        actor = Actor.from_api_request(request)
        if values["effective"] == "period_end":
            schedule_plan_change(
                deployment_id=subscription.deployment_id,
                plan_code=values["plan_code"],
                version=values.get("version"),
                actor=actor,
                reason=values["reason"],
            )
        else:
            change_subscription_plan(
                deployment_id=subscription.deployment_id,
                plan_code=values["plan_code"],
                version=values.get("version"),
                actor=actor,
            )
        return Response(_rendered(subscription.deployment_id))


class CancelView(_DeploymentScoped):
    @extend_schema(
        operation_id="deployments_subscription_cancel",
        summary="Cancel now, or at the end of the current period",
        request=CancelIn,
        examples=[
            OpenApiExample(
                "At the end of the period",
                request_only=True,
                value={"at_period_end": True, "reason": "Moving to another provider"},
            )
        ],
        responses={
            200: SubscriptionEnvelope,
            403: _error("The transitions map does not let this caller cancel"),
            422: _error("Not a move from the deployment's state (invalid_transition), bad input"),
            **COMMON,
        },
    )
    def post(self, request, pk):
        subscription = self.subscription(request, pk)
        data = CancelIn(data=request.data)
        data.is_valid(raise_exception=True)
        cancel_subscription(
            deployment_id=subscription.deployment_id,
            actor=Actor.from_api_request(request),
            at_period_end=data.validated_data["at_period_end"],
            reason=data.validated_data["reason"],
        )
        return Response(_rendered(subscription.deployment_id))


class PendingChangeView(_DeploymentScoped):
    @extend_schema(
        operation_id="deployments_subscription_withdraw_pending_change",
        summary="Withdraw a change scheduled for the end of the period",
        responses={
            200: SubscriptionEnvelope,
            404: _error("No such deployment (or another tenant's), or no such pending change"),
            **{k: v for k, v in COMMON.items() if k != 404},
        },
    )
    def delete(self, request, pk, change_id):
        subscription = self.subscription(request, pk)
        withdraw_pending_change(
            deployment_id=subscription.deployment_id,
            change_id=change_id,
            actor=Actor.from_api_request(request),
            reason="withdrawn by the requester",
        )
        return Response(_rendered(subscription.deployment_id))


class DetachAddonView(_DeploymentScoped):
    @extend_schema(
        operation_id="deployments_subscription_detach_addon",
        summary="Detach one add-on line (it is billed up to now and kept in the history)",
        responses={
            200: SubscriptionEnvelope,
            404: _error("No such deployment (or another tenant's), subscription or line"),
            422: _error("The line is already detached, or resources in use need it"),
            **{k: v for k, v in COMMON.items() if k != 404},
        },
    )
    def delete(self, request, pk, line_id):
        subscription = self.subscription(request, pk)
        detach_subscription_addon(
            deployment_id=subscription.deployment_id,
            line_id=line_id,
            actor=Actor.from_api_request(request),
        )
        return Response(_rendered(subscription.deployment_id))
