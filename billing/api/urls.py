from django.urls import re_path

from arcadia_cloud.api.routes import DEPLOYMENT_PREFIX
from billing.api.views import StatementListView, UpcomingStatementView

urlpatterns = [
    re_path(
        DEPLOYMENT_PREFIX + r"statements$",
        StatementListView.as_view(),
        name="deployment-statements",
    ),
    re_path(
        DEPLOYMENT_PREFIX + r"statements/upcoming$",
        UpcomingStatementView.as_view(),
        name="deployment-statements-upcoming",
    ),
]
