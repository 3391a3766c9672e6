"""django-filter backend whose invalid query values are a 400 with the field named
(the stock backend reports them as a validation error of the body)."""

from django.core.exceptions import ImproperlyConfigured
from django_filters import rest_framework as filters
from django_filters.constants import EMPTY_VALUES

from arcadia_cloud.api.exceptions import BadRequest


class FilterBackend(filters.DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        filterset = self._valid_filterset(request, queryset, view)
        return queryset if filterset is None else filterset.qs

    def conditions(self, request, queryset, view) -> dict[str, object]:
        """The filters the request gives, validated, as field name -> value:
        for a view whose filters are all plain equalities, which reads its
        rows without a queryset (the deployments list). Same 400s as
        `filter_queryset`."""
        filterset = self._valid_filterset(request, queryset, view)
        if filterset is None:
            return {}
        conditions = {}
        for name, value in filterset.form.cleaned_data.items():
            if value in EMPTY_VALUES:
                continue  # django-filter leaves the queryset as it is
            declared = filterset.filters[name]
            if declared.lookup_expr != "exact" or declared.exclude or declared.method:
                raise ImproperlyConfigured(f"{name}: not a plain equality")
            conditions[declared.field_name] = value
        # The form and its bound fields refer to each other: let that cycle
        # not hold the request too (`ReleaseViewMiddleware`).
        filterset.request = None
        return conditions

    def _valid_filterset(self, request, queryset, view):
        """The bound filterset, or None when the view has none or the request
        names none of its filters (nothing to check, nothing to narrow). A
        filter may read suffixed parameters (a range's `<name>_after`), so a
        parameter that starts with a filter's name and `_` counts as naming it."""
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return None
        asked = list(request.query_params)
        if not any(
            param == name or param.startswith(f"{name}_")
            for name in filterset_class.base_filters
            for param in asked
        ):
            return None
        filterset = self.get_filterset(request, queryset, view)
        if not filterset.is_valid():
            raise BadRequest({k: [str(m) for m in v] for k, v in filterset.errors.items()})
        return filterset
