"""What a new user meets first: an admin login made by `create_identity` that
can actually use the console, and a front page that says where things are."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from arcadia_cloud.models import User
from deployments.operators import BILLING_OPERATOR, SUPPORT

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[list[str], str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue().splitlines(), err.getvalue()


def test_create_identity_with_groups_gives_a_working_console_login():
    password = "a-Long-password-42"
    run(
        "create_identity",
        "ops@example.com",
        "--platform-admin",
        "--staff",
        "--password",
        password,
        "--group",
        BILLING_OPERATOR,
        "--group",
        SUPPORT,
    )
    user = User.objects.get(email="ops@example.com")
    assert sorted(user.groups.values_list("name", flat=True)) == [BILLING_OPERATOR, SUPPORT]
    client = Client()
    assert client.login(email="ops@example.com", password=password)
    assert client.get("/admin/deployments/deployment/").status_code == 200
    assert client.get("/admin/dashboard/").status_code == 200


def test_an_unknown_group_creates_nothing_and_names_the_groups():
    with pytest.raises(CommandError) as refused:
        run("create_identity", "ops@example.com", "--platform-admin", "--group", "admins")
    assert "admins" in str(refused.value)
    assert BILLING_OPERATOR in str(refused.value)
    assert not User.objects.filter(email="ops@example.com").exists()


def test_staff_without_a_group_is_told_what_it_will_see():
    _, err = run("create_identity", "ops@example.com", "--platform-admin", "--staff")
    assert "--group" in err
    assert BILLING_OPERATOR in err


@pytest.mark.parametrize("debug", [False, True])
def test_the_front_page_links_the_admin_the_api_docs_and_the_health_check(client, debug):
    with override_settings(DEBUG=debug):
        response = client.get("/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    for link in ('href="/admin/"', 'href="/api/v1/docs"', 'href="/healthz"'):
        assert link in page, page
    assert response["X-Request-Id"]


def test_the_demo_prints_a_platform_admin_token_and_writes_both_tokens(tmp_path):
    from rest_framework.test import APIClient

    lines, _ = run("load_demo", "--token-dir", str(tmp_path))
    printed = dict(
        line.strip().split(": ", 1) for line in lines if line.strip().startswith("API token, ")
    )
    admin = printed["API token, platform admin (operator@arcadia.example)"]
    tenant = printed["API token, tenant acme (owner@acme.example)"]
    assert (tmp_path / "admin_token").read_text().strip() == admin
    assert (tmp_path / "demo_token").read_text().strip() == tenant
    assert (tmp_path / "admin_token").stat().st_mode & 0o777 == 0o600
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {admin}")
    me = client.get("/api/v1/me").json()
    assert (me["email"], me["roles"]) == ("operator@arcadia.example", ["platform_admin"])
    # the admin sees every tenant's deployments, the tenant only its own
    everyone = client.get("/api/v1/deployments?limit=500").json()["count"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant}")
    assert client.get("/api/v1/deployments?limit=500").json()["count"] < everyone
    # a second start revokes the first start's tokens
    run("load_demo", "--token-dir", str(tmp_path))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {admin}")
    assert client.get("/api/v1/me").status_code == 401
