from django.urls import re_path

from subscriptions.api.views import AttachAddonView, ChangePlanView, SubscribeView

# The same id pattern as the deployment routes: anything else is a JSON 404.
UUID_RE = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
PREFIX = rf"^deployments/(?P<pk>{UUID_RE})/"

urlpatterns = [
    re_path(PREFIX + r"subscribe$", SubscribeView.as_view(), name="deployment-subscribe"),
    re_path(
        PREFIX + r"subscription/addons$",
        AttachAddonView.as_view(),
        name="deployment-subscription-addons",
    ),
    re_path(
        PREFIX + r"subscription/change-plan$",
        ChangePlanView.as_view(),
        name="deployment-subscription-change-plan",
    ),
]
