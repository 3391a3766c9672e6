from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from arcadia_cloud.selectors import get_tenant_by_slug
from arcadia_cloud.services import create_identity


class Command(BaseCommand):
    help = "Create an identity (no password unless --password is given)."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--tenant", default=None, help="tenant slug")
        parser.add_argument("--platform-admin", action="store_true")
        parser.add_argument("--staff", action="store_true", help="may log in to the admin")
        parser.add_argument("--password", default=None)

    def handle(self, *args, email, tenant, platform_admin, staff, password, **options):
        tenant_obj = None
        if tenant:
            tenant_obj = get_tenant_by_slug(tenant)
            if tenant_obj is None:
                raise CommandError(f"No tenant with slug {tenant!r}.")
        try:
            user = create_identity(
                email=email,
                tenant=tenant_obj,
                platform_admin=platform_admin,
                staff=staff,
                password=password,
            )
        except ValidationError as exc:
            detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            raise CommandError(f"Cannot create identity: {detail}") from exc
        self.stdout.write(str(user.pk))
