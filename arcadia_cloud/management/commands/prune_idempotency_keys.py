"""Delete Idempotency-Key records older than the retention (at least 24 hours)."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from arcadia_cloud.services import prune_idempotency_records


class Command(BaseCommand):
    help = "Delete Idempotency-Key records older than --older-than-hours (default and minimum 24)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-hours",
            type=int,
            default=None,
            help="Retention (default ARCADIA_IDEMPOTENCY_TTL_HOURS, at least 24).",
        )
        parser.add_argument("--batch-size", type=int, default=5000, help="Rows per DELETE.")

    def handle(self, *args, **options):
        hours = options["older_than_hours"]
        if hours is None:
            hours = settings.ARCADIA_IDEMPOTENCY_TTL_HOURS
        try:
            deleted = prune_idempotency_records(
                older_than=timedelta(hours=hours), batch_size=options["batch_size"]
            )
        except (ValidationError, OverflowError) as exc:
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            raise CommandError(message) from exc
        self.stdout.write(f"pruned {deleted} idempotency records older than {hours}h")
