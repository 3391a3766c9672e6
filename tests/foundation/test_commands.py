"""create_tenant, create_identity, issue_token: names, arguments and last lines per the spec."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from arcadia_cloud.models import ApiToken, Tenant, User
from tests.conftest import bearer


def run(*args) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue().strip().splitlines()


@pytest.mark.django_db
def test_create_tenant_prints_id_last():
    lines = run("create_tenant", "acme", "--name", "Acme Inc")
    tenant = Tenant.objects.get(slug="acme")
    assert lines[-1] == str(tenant.id)
    assert tenant.name == "Acme Inc"


@pytest.mark.django_db
def test_create_tenant_rejects_duplicate():
    run("create_tenant", "acme")
    with pytest.raises(CommandError, match="already exists"):
        run("create_tenant", "acme")


@pytest.mark.django_db
def test_create_identity_without_password():
    run("create_tenant", "acme")
    run("create_identity", "Dev@Acme.example", "--tenant", "acme")
    user = User.objects.get(email="dev@acme.example")
    assert user.tenant.slug == "acme"
    assert not user.has_usable_password()
    assert not user.is_platform_admin


@pytest.mark.django_db
def test_create_identity_platform_admin_and_staff():
    run("create_identity", "ops@arcadia.example", "--platform-admin", "--password", "s3cret-Pass!")
    user = User.objects.get(email="ops@arcadia.example")
    assert user.is_platform_admin
    assert user.is_staff
    assert user.tenant is None
    assert user.check_password("s3cret-Pass!")


@pytest.mark.django_db
def test_create_identity_needs_tenant_unless_admin():
    with pytest.raises(CommandError, match="Required unless the identity is a platform admin"):
        run("create_identity", "nobody@example.com")
    with pytest.raises(CommandError, match="No tenant with slug 'missing'"):
        run("create_identity", "nobody@example.com", "--tenant", "missing")
    assert not User.objects.exists()


@pytest.mark.django_db
def test_issue_token_prints_raw_token_last_and_it_works():
    run("create_tenant", "acme")
    run("create_identity", "dev@acme.example", "--tenant", "acme")
    raw = run("issue_token", "dev@acme.example", "--name", "laptop", "--expires-days", "7")[-1]
    token = ApiToken.objects.get()
    assert token.name == "laptop"
    assert token.expires_at is not None
    assert bearer(raw).get("/api/v1/me").json()["email"] == "dev@acme.example"


@pytest.mark.django_db
def test_issue_token_for_unknown_identity_fails():
    with pytest.raises(CommandError, match="No identity with email"):
        run("issue_token", "ghost@example.com")
