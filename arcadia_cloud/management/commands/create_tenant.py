from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from arcadia_cloud.services import create_tenant


class Command(BaseCommand):
    help = "Create a tenant; prints its id as the last line."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default=None)

    def handle(self, *args, slug, name, **options):
        try:
            tenant = create_tenant(slug=slug, name=name)
        except ValidationError as exc:
            raise CommandError(f"Cannot create tenant: {exc.message_dict}") from exc
        self.stdout.write(str(tenant.id))
