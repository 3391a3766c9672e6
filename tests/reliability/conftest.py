"""Fixtures for the reliability tests: deployments owned by each tenant, raw
tokens for each kind of caller, and a JSON POST helper."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from arcadia_cloud.models import ApiToken
from tests.conftest import bearer
from tests.factories import token_for

__all__ = ["bearer", "post_json"]


def post_json(client: APIClient, path: str, body, **headers):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json", **headers)


@pytest.fixture
def revoked_client(tenant_identity) -> APIClient:
    raw = token_for(tenant_identity, name="revoked")
    ApiToken.objects.filter(name="revoked").update(revoked_at=timezone.now())
    return bearer(raw)


@pytest.fixture
def expired_client(tenant_identity) -> APIClient:
    raw = token_for(tenant_identity, name="expired")
    ApiToken.objects.filter(name="expired").update(expires_at=timezone.now() - timedelta(minutes=1))
    return bearer(raw)
