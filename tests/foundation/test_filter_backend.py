"""The API's filter backend skips building a filterset only when the query
names none of its filters, counting a range filter's suffixed parameters."""

import pytest
from django_filters import rest_framework as filters
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from arcadia_cloud.api.exceptions import BadRequest
from arcadia_cloud.api.filtering import FilterBackend
from deployments.models import Deployment


class _ByCreation(filters.FilterSet):
    created = filters.IsoDateTimeFromToRangeFilter(field_name="created_at")

    class Meta:
        model = Deployment
        fields = ["created"]


class _View:
    filterset_class = _ByCreation


def _request(query: str) -> Request:
    return Request(APIRequestFactory().get(f"/api/v1/deployments?{query}"))


@pytest.mark.django_db
def test_a_range_filters_suffixed_parameter_is_checked():
    backend = FilterBackend()
    with pytest.raises(BadRequest):
        backend.filter_queryset(
            _request("created_after=not-a-time"), Deployment.objects.all(), _View()
        )
    narrowed = backend.filter_queryset(
        _request("created_after=2026-01-01T00:00:00Z"), Deployment.objects.all(), _View()
    )
    assert "created_at" in str(narrowed.query)
    unrelated = Deployment.objects.all()
    assert backend.filter_queryset(_request("limit=5"), unrelated, _View()) is unrelated
