from django.urls import re_path
from rest_framework.routers import SimpleRouter

from deployments.api.subscription_views import AttachAddonView, ChangePlanView, SubscribeView
from deployments.api.views import UUID_RE, DeploymentViewSet

router = SimpleRouter(trailing_slash=False)
router.register("deployments", DeploymentViewSet, basename="deployment")

# A deployment's subscription routes: the same id pattern as the deployment
# routes, so anything else is a JSON 404.
DEPLOYMENT = rf"^deployments/(?P<pk>{UUID_RE})/"

urlpatterns = [
    *router.urls,
    re_path(DEPLOYMENT + r"subscribe$", SubscribeView.as_view(), name="deployment-subscribe"),
    re_path(
        DEPLOYMENT + r"subscription/addons$",
        AttachAddonView.as_view(),
        name="deployment-subscription-addons",
    ),
    re_path(
        DEPLOYMENT + r"subscription/change-plan$",
        ChangePlanView.as_view(),
        name="deployment-subscription-change-plan",
    ),
]
