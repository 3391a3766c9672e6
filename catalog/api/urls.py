from django.urls import path

from catalog.api.views import AddonListView, PlanListView

urlpatterns = [
    path("plans", PlanListView.as_view(), name="plan-list"),
    path("addons", AddonListView.as_view(), name="addon-list"),
]
