from django.urls import path, re_path

from arcadia_cloud.api.routes import UUID_RE
from webhooks.api.views import (
    DeliveryListView,
    DeliveryRetryView,
    EndpointDetailView,
    EndpointListView,
    ReplayView,
    RotateSecretView,
)

ENDPOINT = rf"^webhook-endpoints/(?P<pk>{UUID_RE})"

urlpatterns = [
    path("webhook-endpoints", EndpointListView.as_view(), name="webhook-endpoint-list"),
    re_path(ENDPOINT + "$", EndpointDetailView.as_view(), name="webhook-endpoint-detail"),
    re_path(
        ENDPOINT + "/rotate-secret$",
        RotateSecretView.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
    re_path(
        ENDPOINT + "/deliveries$", DeliveryListView.as_view(), name="webhook-endpoint-deliveries"
    ),
    re_path(
        ENDPOINT + r"/deliveries/(?P<delivery_id>[0-9]{1,18})/retry$",
        DeliveryRetryView.as_view(),
        name="webhook-delivery-retry",
    ),
    re_path(ENDPOINT + "/replay$", ReplayView.as_view(), name="webhook-endpoint-replay"),
]
