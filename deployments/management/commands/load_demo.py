"""Demo data for `make run`: idempotent, and never a fixed password or token.

Every run generates a fresh operator password and a fresh demo API token and
prints them; the data itself is created once.
"""

import secrets

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from arcadia_cloud.actors import Actor
from arcadia_cloud.models import Role, Tenant, User
from arcadia_cloud.services import create_identity, create_tenant, issue_token
from deployments.models import Deployment
from deployments.services import create_deployment

OPERATOR_EMAIL = "operator@arcadia.example"
TENANT_EMAIL = "owner@acme.example"

DEMO_DEPLOYMENTS = {
    "acme": [("shop", "Acme Shop", "us-east-1"), ("blog", "Acme Blog", "eu-west-1")],
    "globex": [("portal", "Globex Portal", "eu-central-1")],
}


class Command(BaseCommand):
    help = "Load the demo catalog, tenants, identities and deployments; print how to log in."

    def handle(self, *args, **options):
        if "seed_catalog" in _commands():
            call_command("seed_catalog", verbosity=0)
        with transaction.atomic():
            operator = self._operator()
            owner = self._tenants_and_deployments()
        password = secrets.token_urlsafe(12)
        operator.set_password(password)
        operator.save(update_fields=["password"])
        token = issue_token(user=owner, name="demo")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Arcadia Cloud is starting on http://127.0.0.1:8000",
                    f"  admin:  http://127.0.0.1:8000/admin/  {OPERATOR_EMAIL} / {password}",
                    f"  API:    curl -H 'Authorization: Bearer {token.raw}' "
                    "http://127.0.0.1:8000/api/v1/me",
                    "  docs:   http://127.0.0.1:8000/api/v1/docs",
                    "(a new password and token are generated on every start)",
                    "",
                ]
            )
        )

    def _operator(self) -> User:
        operator = User.objects.filter(email=OPERATOR_EMAIL).first()
        if operator is None:
            operator = create_identity(email=OPERATOR_EMAIL, platform_admin=True, staff=True)
        operator.is_superuser = True
        operator.is_staff = True
        operator.roles = [Role.PLATFORM_ADMIN.value]
        operator.save(update_fields=["is_superuser", "is_staff", "roles"])
        return operator

    def _tenants_and_deployments(self) -> User:
        system = Actor.system("system:load_demo")
        for slug, rows in DEMO_DEPLOYMENTS.items():
            tenant = Tenant.objects.filter(slug=slug).first() or create_tenant(
                slug=slug, name=slug.capitalize()
            )
            for dslug, name, region in rows:
                if not Deployment.objects.filter(tenant=tenant, slug=dslug).exists():
                    create_deployment(
                        tenant=tenant, slug=dslug, display_name=name, region=region, actor=system
                    )
        owner = User.objects.filter(email=TENANT_EMAIL).first()
        if owner is None:
            owner = create_identity(email=TENANT_EMAIL, tenant=Tenant.objects.get(slug="acme"))
        return owner


def _commands() -> set[str]:
    from django.core.management import get_commands

    return set(get_commands())
