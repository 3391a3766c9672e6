from django.urls import path
from rest_framework.routers import SimpleRouter

from deployments.api.feed_views import FeedView
from deployments.api.views import DeploymentViewSet

router = SimpleRouter(trailing_slash=False)
router.register("deployments", DeploymentViewSet, basename="deployment")

urlpatterns = [*router.urls, path("events", FeedView.as_view(), name="events")]
