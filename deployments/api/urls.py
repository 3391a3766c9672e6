from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from arcadia_cloud.api.routes import DEPLOYMENT_PREFIX as DEPLOYMENT
from arcadia_cloud.api.routes import UUID_RE
from deployments.api.feed_views import FeedView
from deployments.api.resource_views import (
    DeploymentResourcesView,
    EntitlementsView,
    ResourceDetailView,
    ResourceListView,
    ResourceStatusView,
)
from deployments.api.subscription_views import (
    AttachAddonView,
    CancelView,
    ChangePlanView,
    DetachAddonView,
    PendingChangeView,
    SubscribeView,
)
from deployments.api.views import DeploymentViewSet

router = SimpleRouter(trailing_slash=False)
router.register("deployments", DeploymentViewSet, basename="deployment")

RESOURCE = rf"^resources/(?P<resource_id>{UUID_RE})"

urlpatterns = [
    *router.urls,
    path("events", FeedView.as_view(), name="events"),
    re_path(DEPLOYMENT + r"subscribe$", SubscribeView.as_view(), name="deployment-subscribe"),
    re_path(
        DEPLOYMENT + r"subscription/addons$",
        AttachAddonView.as_view(),
        name="deployment-subscription-addons",
    ),
    re_path(
        DEPLOYMENT + r"subscription/addons/(?P<line_id>[0-9]{1,18})$",
        DetachAddonView.as_view(),
        name="deployment-subscription-addon",
    ),
    re_path(
        DEPLOYMENT + r"subscription/change-plan$",
        ChangePlanView.as_view(),
        name="deployment-subscription-change-plan",
    ),
    re_path(
        DEPLOYMENT + r"subscription/cancel$",
        CancelView.as_view(),
        name="deployment-subscription-cancel",
    ),
    re_path(
        DEPLOYMENT + r"subscription/pending-changes/(?P<change_id>[0-9]{1,18})$",
        PendingChangeView.as_view(),
        name="deployment-subscription-pending-change",
    ),
    re_path(
        DEPLOYMENT + r"resources$", DeploymentResourcesView.as_view(), name="deployment-resources"
    ),
    re_path(
        DEPLOYMENT + r"entitlements$", EntitlementsView.as_view(), name="deployment-entitlements"
    ),
    path("resources", ResourceListView.as_view(), name="resource-list"),
    re_path(RESOURCE + "$", ResourceDetailView.as_view(), name="resource-detail"),
    re_path(RESOURCE + "/status$", ResourceStatusView.as_view(), name="resource-status"),
]
