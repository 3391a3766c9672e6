"""django-filter backend whose invalid query values are a 400 with the field named
(the stock backend reports them as a validation error of the body)."""

from django_filters import rest_framework as filters

from arcadia_cloud.api.exceptions import BadRequest


class FilterBackend(filters.DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise BadRequest({k: [str(m) for m in v] for k, v in filterset.errors.items()})
        return filterset.qs
