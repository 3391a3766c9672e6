"""Create or update the operator groups ("billing operator", "support")."""

from django.core.management.base import BaseCommand

from deployments.operators import ensure_operator_groups


class Command(BaseCommand):
    help = (
        'Create or update the admin groups "billing operator" (view, transition, '
        'override) and "support" (view only). Idempotent; also runs after migrate.'
    )

    def handle(self, *args, **options):
        for name, count in ensure_operator_groups().items():
            self.stdout.write(f"{name}: {count} permissions")
