"""The API's renderer writes exactly DRF's bytes (or fails exactly as DRF does)."""

import uuid
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from django.utils.translation import gettext_lazy
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import renderers
from rest_framework.exceptions import ErrorDetail
from rest_framework.utils.serializer_helpers import ReturnDict

from arcadia_cloud.api.renderers import JSONRenderer

DRF = renderers.JSONRenderer()
OURS = JSONRenderer()


def rendered(renderer, data, media_type=None):
    try:
        return renderer.render(data, media_type)
    except Exception as exc:
        return type(exc)


scalars = (
    st.none()
    | st.booleans()
    # past 64 bits too: orjson refuses those, DRF's path writes them
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text()  # any code point: controls, U+2028/9, lone surrogates
    | st.sampled_from(["\u2028", "a\u2029b", 'é\x00\x1f"\\/', "\ud800"])
    | st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5))]))
    | st.dates()
    | st.uuids()
    | st.builds(ErrorDetail, st.text(), st.text(max_size=8))
    | st.just(gettext_lazy("Not found."))
    | st.just(b"bytes")
)
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=8), children, max_size=5)
        | st.dictionaries(st.integers(), children, min_size=1, max_size=2)  # refused by orjson
        | st.builds(lambda d: ReturnDict(d, serializer=None), st.dictionaries(st.text(), children))
        | st.builds(OrderedDict, st.dictionaries(st.text(max_size=4), children, max_size=3))
    ),
    max_leaves=30,
)


@given(documents)
@settings(max_examples=400, deadline=None)
def test_the_same_bytes_as_drf_for_any_document(data):
    assert rendered(OURS, data) == rendered(DRF, data)


@pytest.mark.parametrize(
    "data",
    [
        None,
        {
            "deployment": {
                "id": uuid.UUID(int=7),
                "at": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
            }
        },
        {"when": date(2026, 12, 1), "line": "\u2028\u2029"},
        [[[[]]]] * 3,
        # deeper than orjson writes: DRF's path writes it
        {"a": __import__("functools").reduce(lambda inner, _: [inner], range(300), [])},
    ],
)
@pytest.mark.parametrize("media_type", [None, "application/json", "application/json; indent=4"])
def test_the_same_bytes_as_drf_for_edge_documents(data, media_type):
    assert rendered(OURS, data, media_type) == rendered(DRF, data, media_type)
    if media_type and "indent" in media_type and data:
        assert b"\n    " in OURS.render(data, media_type)


def test_the_api_answers_through_it(tenant_client):
    from django.conf import settings as django_settings

    assert django_settings.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] == [
        "arcadia_cloud.api.renderers.JSONRenderer"
    ]
    response = tenant_client.get("/api/v1/me")
    assert isinstance(response.accepted_renderer, JSONRenderer)
    assert response.content == DRF.render(response.data)
