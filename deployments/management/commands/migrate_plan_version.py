"""`manage.py migrate_plan_version`: move every subscriber of one plan version
to another (a price change), safe to run twice and on several machines at once.

A thin caller: parses the options, then `deployments.plan_migration` does the
work through the same rules as `change_plan_version`.
"""

from __future__ import annotations

import os
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from arcadia_cloud.actors import Actor
from arcadia_cloud.errors import DomainError
from arcadia_cloud.progress import Progress
from arcadia_cloud.selectors import get_tenant_by_slug
from deployments.plan_migration import (
    DEFAULT_ACTOR,
    DEFAULT_BATCH_SIZE,
    MAX_BATCH_SIZE,
    MAX_WORKERS,
    NOW,
    PERIOD_END,
    Migration,
    MigrationInterrupted,
    MigrationResult,
    migrate_plan_version,
)


class Command(BaseCommand):
    help = (
        "Move every subscription on (plan, --from-version) to --to-version, now or at the "
        "end of each one's current period, through the same rules as a plan change "
        "(one plan change each, currency rule). Safe to run twice and on several machines."
    )

    def add_arguments(self, parser):
        parser.add_argument("--plan", required=True, metavar="CODE")
        parser.add_argument("--from-version", type=int, required=True, metavar="N")
        parser.add_argument("--to-version", type=int, required=True, metavar="M")
        parser.add_argument("--effective", choices=[NOW, PERIOD_END], default=NOW)
        parser.add_argument("--tenant", metavar="SLUG", help="Only this tenant's subscriptions.")
        parser.add_argument("--actor", default=DEFAULT_ACTOR, help="Recorded on every change.")
        parser.add_argument("--reason", default="", help="Recorded on every change.")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument(
            "--workers", type=int, default=1, help="Chunks moved at once (PostgreSQL)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would move; change nothing."
        )

    def handle(self, *args, **options):
        actor_label = (options["actor"] or "").strip()
        if not actor_label:
            raise CommandError("--actor must not be blank.")
        if not 1 <= options["batch_size"] <= MAX_BATCH_SIZE:
            raise CommandError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}.")
        if not 1 <= options["workers"] <= MAX_WORKERS:
            raise CommandError(f"--workers must be between 1 and {MAX_WORKERS}.")
        for name in ("from_version", "to_version"):
            if options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be a version number (1+).")
        tenant_id = None
        if options["tenant"] is not None:
            tenant = get_tenant_by_slug(options["tenant"])
            if tenant is None:
                raise CommandError(f"Unknown tenant {options['tenant']!r}.")
            tenant_id = tenant.pk
        migration = Migration(
            plan_code=options["plan"],
            from_version=options["from_version"],
            to_version=options["to_version"],
            effective=options["effective"],
            tenant_id=tenant_id,
        )
        progress = Progress(enabled=not os.environ.get("CI") and self.stdout.isatty())
        started = time.monotonic()
        stopped = None
        try:
            result = migrate_plan_version(
                migration=migration,
                actor=Actor.system(actor_label),
                reason=options["reason"],
                batch_size=options["batch_size"],
                workers=options["workers"],
                dry_run=options["dry_run"],
                on_progress=progress.update,
            )
        except MigrationInterrupted as exc:
            result, stopped = exc.result, exc
        except DomainError as exc:
            raise CommandError(
                f"{migration.plan_code} v{migration.from_version} -> v{migration.to_version} "
                f"cannot run: {exc.code} ({exc})."
            ) from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        finally:
            progress.close()
        for subscription_id, deployment_id in result.would_move:
            self.stdout.write(
                f"would move subscription {subscription_id} (deployment {deployment_id}) "
                f"v{migration.from_version} -> v{migration.to_version}"
            )
        self._summary(result, options, time.monotonic() - started)
        for error in result.errors:
            self.stderr.write(f"failed: {error}")
        if stopped is not None:
            self.stderr.write(
                f"failed: the run stopped on a database error: {stopped.cause}. Only what the "
                "summary counts was committed; run it again to move the rest."
            )
            raise CommandError(f"the run stopped before the end ({stopped.cause}).")
        if result.failed:
            raise CommandError(f"{result.failed} subscriptions failed to move (see above).")

    def _summary(self, result: MigrationResult, options, seconds: float) -> None:
        dry = options["dry_run"]
        moved = len(result.would_move) if dry else result.moved + result.scheduled
        label = "would move" if dry else ("scheduled" if result.scheduled else "moved")
        lines = [
            f"matched: {result.matched}",
            f"{label}: {moved}",
            f"skipped: {result.skipped_cancelled + result.skipped_quota + result.skipped_locked}",
            f"  cancelled: {result.skipped_cancelled}",
            f"  resources in use over the new version's limits: {result.skipped_quota}",
            f"  locked by another runner: {result.skipped_locked}",
            f"failed: {result.failed}",
        ]
        lines.append("dry run: nothing was changed" if dry else f"took: {seconds:.2f}s")
        self.stdout.write("\n".join(lines))
