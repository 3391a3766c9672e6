"""Bearer-token authentication: every failure is the same 401 JSON body."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from arcadia_cloud.models import ApiToken
from arcadia_cloud.services import issue_token, revoke_token

UNAUTHENTICATED = {"error": "unauthenticated"}


def get_me(header: str | None):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client.get("/api/v1/me")


@pytest.mark.django_db
def test_valid_token_authenticates(tenant_identity):
    raw = issue_token(user=tenant_identity, name="ci").raw
    response = get_me(f"Bearer {raw}")
    assert response.status_code == 200
    assert response.json()["email"] == "owner@acme.example"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Token abc",
        "Bearer arc_doesnotexist_000000000000000000000000000",
        "Bearer not-our-format",
        "Bearer a b",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_missing_unknown_or_malformed_header_is_401_json(header, tenant_identity):
    issue_token(user=tenant_identity)
    response = get_me(header)
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.django_db
def test_expired_token_is_401(tenant_identity):
    issued = issue_token(user=tenant_identity, expires_days=1)
    ApiToken.objects.filter(pk=issued.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = get_me(f"Bearer {issued.raw}")
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED


@pytest.mark.django_db
def test_revoked_token_is_401(tenant_identity):
    issued = issue_token(user=tenant_identity)
    assert get_me(f"Bearer {issued.raw}").status_code == 200
    revoke_token(token=issued.token)
    response = get_me(f"Bearer {issued.raw}")
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED


@pytest.mark.django_db
def test_token_for_a_disabled_identity_is_401(tenant_identity):
    raw = issue_token(user=tenant_identity).raw
    tenant_identity.is_active = False
    tenant_identity.save()
    assert get_me(f"Bearer {raw}").status_code == 401


@pytest.mark.django_db
def test_raw_token_is_never_stored(tenant_identity):
    from django.db import connection

    issued = issue_token(user=tenant_identity, name="secret-check")
    secret_part = issued.raw[4 + ApiToken.PREFIX_LEN :]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM arcadia_cloud_apitoken")
        rows = cursor.fetchall()
    dump = repr(rows)
    assert issued.raw not in dump
    assert secret_part not in dump
    token = ApiToken.objects.get(pk=issued.token.pk)
    assert token.prefix == issued.raw[4 : 4 + ApiToken.PREFIX_LEN]
    assert len(token.digest) == 64


@pytest.mark.django_db
def test_last_used_is_written_once_per_window(tenant_identity, django_assert_max_num_queries):
    issued = issue_token(user=tenant_identity)
    get_me(f"Bearer {issued.raw}")
    first = ApiToken.objects.get(pk=issued.token.pk).last_used_at
    assert first is not None
    # Second request within the window: token lookup only, no UPDATE.
    with django_assert_max_num_queries(1):
        response = get_me(f"Bearer {issued.raw}")
    assert response.status_code == 200
    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at == first
