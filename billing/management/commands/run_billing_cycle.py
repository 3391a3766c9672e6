"""`manage.py run_billing_cycle`: the billing clock, run from cron (e.g. every
10 minutes) on one machine or several at once.

A thin caller: parses the options, then `billing.clock.run_billing_cycle`
closes every period that has ended. See that module for the invariants.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from arcadia_cloud.progress import Progress
from billing.clock import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_WORKERS,
    MAX_BATCH_SIZE,
    ClockInterrupted,
    ClockResult,
    run_billing_cycle,
)

#: How far in the future `--as-of` may be without `--allow-future`.
FUTURE_TOLERANCE = timedelta(minutes=1)


class Command(BaseCommand):
    help = (
        "Close every billing period that ended at or before --as-of (default now) into "
        "its statement, oldest first. Idempotent; safe on several machines at once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            metavar="ISO-8601",
            help="The instant to run the clock at (default now), e.g. 2026-12-01T00:05:00Z.",
        )
        parser.add_argument(
            "--allow-future",
            action="store_true",
            help="Allow --as-of more than one minute in the future.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Subscriptions per transaction (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=DEFAULT_WORKERS,
            help=(
                f"Walkers closing chunks at once, each on its own connection (default "
                f"{DEFAULT_WORKERS}; PostgreSQL only, one at a time elsewhere)."
            ),
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be written; change nothing."
        )

    def handle(self, *args, **options):
        now = timezone.now()
        as_of = self._as_of(options["as_of"], now, allow_future=options["allow_future"])
        batch_size = options["batch_size"]
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise CommandError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}.")
        workers = options["workers"]
        if not 1 <= workers <= 8:
            raise CommandError("--workers must be between 1 and 8.")
        progress = Progress(enabled=self._show_progress())
        started = time.monotonic()
        stopped = None
        try:
            result = run_billing_cycle(
                as_of=as_of,
                batch_size=batch_size,
                workers=workers,
                dry_run=options["dry_run"],
                on_progress=progress.update,
            )
        except ClockInterrupted as exc:
            result, stopped = exc.result, exc
        finally:
            progress.close()
        if options["dry_run"]:
            for closed in result.would_close:
                draft = closed.draft
                self.stdout.write(
                    f"would close subscription {closed.subscription_id} "
                    f"(deployment {closed.deployment_id}) {draft.period_start:%Y-%m}: "
                    f"{draft.total_cents} {draft.currency} in {len(draft.lines)} lines"
                )
        self._summary(result, as_of, options["dry_run"], time.monotonic() - started)
        for error in result.errors:
            self.stderr.write(f"failed: {error}")
        if stopped is not None:
            self.stderr.write(
                f"failed: the run stopped on a database error: {stopped.cause}. Only what the "
                "summary counts was committed; run it again to close the rest."
            )
            raise CommandError(f"the run stopped before the end ({stopped.cause}).")
        if result.failed:
            raise CommandError(f"{result.failed} subscriptions failed (see above).")

    @staticmethod
    def _as_of(text: str | None, now: datetime, *, allow_future: bool) -> datetime:
        if text is None:
            return now
        try:
            value = parse_datetime(text.strip())
        except ValueError:
            value = None
        if value is None:
            raise CommandError(f"--as-of: {text!r} is not an ISO 8601 date and time.")
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if value > now + FUTURE_TOLERANCE and not allow_future:
            raise CommandError(
                "--as-of is in the future; pass --allow-future to run the clock ahead "
                "(a test clock)."
            )
        return value

    def _show_progress(self) -> bool:
        return not os.environ.get("CI") and self.stdout.isatty()

    def _summary(self, result: ClockResult, as_of: datetime, dry_run: bool, seconds: float):
        closed = "would close" if dry_run else "periods closed"
        lines = [
            f"as of: {as_of.isoformat().replace('+00:00', 'Z')}",
            f"subscriptions seen: {result.seen}",
            f"{closed}: {result.periods_closed}",
            f"trials ended: {result.trials_ended}",
            f"  skipped (billing actions suspended): {result.skipped_overridden}",
            f"trial warnings: {result.trial_warnings}",
            f"changes applied: {result.changes_applied}",
            f"changes failed: {result.changes_failed}",
            f"failed: {result.failed}",
        ]
        if dry_run:
            lines.append("dry run: nothing was changed")
        else:
            lines.append(f"took: {seconds:.2f}s")
        self.stdout.write("\n".join(lines))
