from django.contrib.auth.models import Group
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
        parser.add_argument(
            "--controller",
            action="store_true",
            help="a provisioning controller: reads every tenant's deployments and resources "
            "and reports resource status, nothing else (no tenant, no other role)",
        )
        parser.add_argument("--staff", action="store_true", help="may log in to the admin")
        parser.add_argument("--password", default=None)
        parser.add_argument(
            "--group",
            dest="groups",
            action="append",
            default=[],
            metavar="NAME",
            help="add to this group (repeatable): the admin's rights come from groups, "
            "e.g. 'billing operator' or 'support'",
        )

    def handle(
        self, *args, email, tenant, platform_admin, controller, staff, password, groups, **options
    ):
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
                controller=controller,
                staff=staff,
                password=password,
                groups=groups,
            )
        except ValidationError as exc:
            detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            raise CommandError(f"Cannot create identity: {detail}") from exc
        if user.is_staff and not user.is_superuser and not groups:
            names = ", ".join(
                repr(g) for g in Group.objects.order_by("name").values_list("name", flat=True)
            )
            self.stderr.write(
                "note: a staff identity sees nothing in the admin until it is in a group: "
                f"add --group NAME (groups: {names or 'none yet'})."
            )
        self.stdout.write(str(user.pk))
