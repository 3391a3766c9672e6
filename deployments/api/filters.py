from django_filters import rest_framework as filters

from deployments.models import Deployment, State


class DeploymentFilter(filters.FilterSet):
    state = filters.ChoiceFilter(choices=State.choices)
    region = filters.CharFilter(max_length=64)
    # For platform admins; for anyone else the tenant scope is applied first,
    # so another tenant's id simply matches nothing.
    tenant_id = filters.UUIDFilter(field_name="tenant_id")

    class Meta:
        model = Deployment
        fields = ["state", "region", "tenant_id"]
