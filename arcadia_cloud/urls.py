from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from arcadia_cloud.api.views import MeView, healthz
from console.dashboard import dashboard_view
from webhooks.demo import webhook_receiver

api_v1 = [
    path("me", MeView.as_view(), name="me"),
    path("", include("deployments.api.urls")),
    path("", include("catalog.api.urls")),
    path("", include("billing.api.urls")),
    path("", include("webhooks.api.urls")),
    path(
        "schema",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="schema",
    ),
    path(
        "docs",
        SpectacularSwaggerView.as_view(
            url_name="schema", authentication_classes=[], permission_classes=[]
        ),
        name="docs",
    ),
]

urlpatterns = [
    # Where things are, for whoever opens the bare address (`make run` prints it).
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    # The operator dashboard, linked from the admin index (staff login required).
    path("admin/dashboard/", admin.site.admin_view(dashboard_view), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("healthz", healthz, name="healthz"),
    # `make run`'s demo webhook endpoint delivers here (DEBUG and loopback only).
    path("demo/webhook-receiver", webhook_receiver, name="demo-webhook-receiver"),
]
