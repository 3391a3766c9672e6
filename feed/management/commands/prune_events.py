"""`manage.py prune_events`: delete feed events older than
ARCADIA_EVENT_RETENTION_DAYS (run daily from cron)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from feed.services import DEFAULT_PRUNE_BATCH, prune_events


class Command(BaseCommand):
    help = "Delete feed events older than ARCADIA_EVENT_RETENTION_DAYS, oldest first, in batches."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=DEFAULT_PRUNE_BATCH)

    def handle(self, *args, batch_size: int, **options):
        if not 1 <= batch_size <= 1_000_000:
            raise CommandError("--batch-size must be between 1 and 1000000")
        days = settings.ARCADIA_EVENT_RETENTION_DAYS
        if days < 1:
            raise CommandError("ARCADIA_EVENT_RETENTION_DAYS must be at least 1")
        result = prune_events(batch_size=batch_size)
        self.stdout.write(
            f"pruned {result.pruned} events older than {result.cutoff.isoformat()} "
            f"({days} days); retained from position {result.pruned_through + 1}"
        )
