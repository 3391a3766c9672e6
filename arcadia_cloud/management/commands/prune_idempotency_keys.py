"""Delete Idempotency-Key records older than the retention (at least 24 hours)."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from arcadia_cloud.models import IdempotencyRecord

MIN_HOURS = 24


class Command(BaseCommand):
    help = "Delete Idempotency-Key records older than --older-than-hours (default and minimum 24)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-hours",
            type=int,
            default=None,
            help=f"Retention (default ARCADIA_IDEMPOTENCY_TTL_HOURS, at least {MIN_HOURS}).",
        )
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, **options):
        hours = options["older_than_hours"] or settings.ARCADIA_IDEMPOTENCY_TTL_HOURS
        if hours < MIN_HOURS:
            raise CommandError(f"Records are kept at least {MIN_HOURS} hours.")
        cutoff = timezone.now() - timedelta(hours=hours)
        deleted = 0
        # Small batches: no long lock on a busy table, and safe to run on
        # several machines at once (a row deleted twice is simply gone).
        while True:
            ids = list(
                IdempotencyRecord.objects.filter(created_at__lt=cutoff).values_list(
                    "pk", flat=True
                )[: options["batch_size"]]
            )
            if not ids:
                break
            deleted += IdempotencyRecord.objects.filter(pk__in=ids).delete()[0]
        self.stdout.write(f"pruned {deleted} idempotency records older than {hours}h")
