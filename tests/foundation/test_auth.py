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


@pytest.mark.django_db
def test_revocation_takes_effect_on_the_very_next_request(tenant_identity, settings):
    """No cache between the database and the check: the request right after
    a revocation (same client, same process, a moment later) is refused."""
    settings.ARCADIA_THROTTLE_READ = "off"
    issued = issue_token(user=tenant_identity)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw}")
    assert [client.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 200]
    revoke_token(token=issued.token)
    assert client.get("/api/v1/me").status_code == 401
    # and an identity disabled behind the token's back, likewise
    again = issue_token(user=tenant_identity)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {again.raw}")
    assert client.get("/api/v1/me").status_code == 200
    type(tenant_identity).objects.filter(pk=tenant_identity.pk).update(is_active=False)
    assert client.get("/api/v1/me").status_code == 401


@pytest.mark.django_db
def test_authentication_is_one_fixed_statement_and_compiles_no_query(
    tenant_identity, settings, monkeypatch, django_assert_num_queries
):
    from django.db.models.sql.compiler import SQLCompiler

    from arcadia_cloud.auth import TOKEN_LOOKUP_SQL

    settings.ARCADIA_THROTTLE_READ = "off"
    issued = issue_token(user=tenant_identity)
    assert get_me(f"Bearer {issued.raw}").status_code == 200  # writes last_used_at

    def compiled(*args, **kwargs):
        raise AssertionError("the ORM compiled a query on an authenticated /me")

    monkeypatch.setattr(SQLCompiler, "as_sql", compiled)
    # One statement: the token lookup (the once-a-minute last_used_at write
    # was done by the request above).
    with django_assert_num_queries(1) as captured:
        response = get_me(f"Bearer {issued.raw}")
    assert response.status_code == 200
    assert captured.captured_queries[0]["sql"].startswith(TOKEN_LOOKUP_SQL.split("%s")[0])


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["tenant_identity", "platform_admin", "controller"])
def test_the_token_row_builds_the_identity_the_orm_would(request, who):
    from arcadia_cloud.auth import find_token
    from arcadia_cloud.services import create_identity, hash_token

    if who == "controller":
        identity = create_identity(email="controller@arcadia.example", controller=True)
    else:
        identity = request.getfixturevalue(who)
    issued = issue_token(user=identity)
    token = find_token(issued.raw[4 : 4 + ApiToken.PREFIX_LEN], hash_token(issued.raw))
    expected = ApiToken.objects.select_related("user__tenant").get(pk=issued.token.pk)
    assert token.pk == expected.pk
    assert token._state.adding is False
    for name in ("digest", "prefix", "name", "created_at", "expires_at", "revoked_at"):
        assert getattr(token, name) == getattr(expected, name)
    for name in ("pk", "email", "tenant_id", "roles", "is_active", "is_staff", "date_joined"):
        assert getattr(token.user, name) == getattr(expected.user, name)
    assert token.user.tenant == expected.user.tenant
    if expected.user.tenant is not None:
        assert token.user.tenant.slug == expected.user.tenant.slug
    assert find_token(issued.raw[4 : 4 + ApiToken.PREFIX_LEN], "0" * 64) is None
