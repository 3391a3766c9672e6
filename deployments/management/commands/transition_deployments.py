"""`manage.py transition_deployments`: move many deployments at once (dunning,
clean-up), safe to run twice and on several machines at once.

A thin caller: parses the options, then `deployments.batch` does the work
through the same transitions map as every other entry point.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from arcadia_cloud.actors import Actor
from arcadia_cloud.progress import Progress
from arcadia_cloud.selectors import get_tenant_by_slug
from deployments.batch import (
    DEFAULT_ACTOR,
    DEFAULT_BATCH_SIZE,
    DEFAULT_WORKERS,
    MAX_BATCH_SIZE,
    MAX_WORKERS,
    BatchInterrupted,
    BatchResult,
    BatchSelection,
    parse_duration,
    plan_batch,
    transition_batch,
)
from deployments.errors import InvalidTransition, TransitionForbidden
from deployments.transitions import STATES


class Command(BaseCommand):
    help = (
        "Move every matching deployment from one state to another through the "
        "transitions map (one event each); skips billing-overridden deployments "
        "unless --include-overridden. Safe to run twice and on several machines."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="from_state", required=True, choices=STATES)
        parser.add_argument("--to", dest="to_state", required=True, choices=STATES)
        parser.add_argument("--reason", required=True, help="Recorded on every event.")
        parser.add_argument(
            "--actor", default=DEFAULT_ACTOR, help=f"Recorded on every event ({DEFAULT_ACTOR})."
        )
        parser.add_argument("--tenant", metavar="SLUG", help="Only this tenant's deployments.")
        parser.add_argument("--region", help="Only deployments in this region.")
        parser.add_argument(
            "--in-state-for",
            metavar="DURATION",
            help="Only deployments in --from for at least this long: 14d, 12h, 30m.",
        )
        parser.add_argument(
            "--ids-file",
            metavar="PATH",
            help="Only these deployment ids: one UUID a line; blank lines and # comments ignored.",
        )
        parser.add_argument(
            "--include-overridden",
            action="store_true",
            help="Also move deployments whose billing actions are suspended.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Deployments per transaction (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=DEFAULT_WORKERS,
            help=(
                "Chunks moved at once, each on its own database connection "
                f"(default {DEFAULT_WORKERS}; PostgreSQL only, one at a time elsewhere)."
            ),
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would move; change nothing."
        )

    def handle(self, *args, **options):
        from_state, to_state = options["from_state"], options["to_state"]
        reason = (options["reason"] or "").strip()
        if not reason:
            raise CommandError("--reason must not be blank: it is recorded on every event.")
        actor_label = (options["actor"] or "").strip()
        if not actor_label:
            raise CommandError("--actor must not be blank.")
        batch_size = options["batch_size"]
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise CommandError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}.")
        workers = options["workers"]
        if not 1 <= workers <= MAX_WORKERS:
            raise CommandError(f"--workers must be between 1 and {MAX_WORKERS}.")
        selection = BatchSelection(
            from_state=from_state,
            to_state=to_state,
            tenant_id=self._tenant_id(options["tenant"]),
            region=self._region(options["region"]),
            in_state_for=self._duration(options["in_state_for"]),
            ids=self._ids(options["ids_file"]),
        )
        # The override is part of the map's "who may": a system actor may not
        # move an overridden deployment unless the operator asked for it here.
        actor = Actor.system(actor_label, include_overridden=options["include_overridden"])

        if options["dry_run"]:
            with refusals(from_state, to_state):
                result = plan_batch(selection=selection, actor=actor, batch_size=batch_size)
            for pk, tenant_slug, slug, state_since in result.would_move:
                self.stdout.write(
                    f"would move {pk} {tenant_slug}/{slug} {from_state} -> {to_state} "
                    f"(since {state_since.isoformat()})"
                )
            self._summary(result, dry_run=True)
            return

        progress = Progress(enabled=self._show_progress())
        started = time.monotonic()
        stopped = None
        try:
            with refusals(from_state, to_state):
                result = transition_batch(
                    selection=selection,
                    actor=actor,
                    reason=reason,
                    batch_size=batch_size,
                    workers=workers,
                    on_progress=progress.update,
                )
        except BatchInterrupted as exc:
            # The database went away for good: still say what did commit.
            result, stopped = exc.result, exc
        finally:
            progress.close()
        self._summary(
            result, dry_run=False, seconds=time.monotonic() - started, stopped=stopped is not None
        )
        for error in result.errors:
            self.stderr.write(f"failed: {error}")
        if stopped is not None:
            self.stderr.write(
                f"failed: the run stopped on a database error: {stopped.cause}. "
                "Only what the summary counts as moved was committed; run it again "
                "to move the rest."
            )
            raise CommandError(f"the run stopped before the end ({stopped.cause}).")
        if result.failed:
            raise CommandError(f"{result.failed} deployments failed to move (see above).")

    # ---- option parsing ------------------------------------------------------

    @staticmethod
    def _tenant_id(slug: str | None) -> UUID | None:
        if slug is None:
            return None
        tenant = get_tenant_by_slug(slug)
        if tenant is None:
            raise CommandError(f"Unknown tenant {slug!r}.")
        return tenant.pk

    @staticmethod
    def _region(region: str | None) -> str | None:
        if region is not None and region not in settings.ARCADIA_REGIONS:
            raise CommandError(
                f"Unknown region {region!r}; one of {', '.join(settings.ARCADIA_REGIONS)}."
            )
        return region

    @staticmethod
    def _duration(text: str | None):
        if text is None:
            return None
        try:
            return parse_duration(text)
        except ValueError as exc:
            raise CommandError(f"--in-state-for: {exc}.") from exc

    @staticmethod
    def _ids(path: str | None) -> list[UUID] | None:
        if path is None:
            return None
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"--ids-file: cannot read {path}: {exc}") from exc
        ids: list[UUID] = []
        bad: list[str] = []
        for number, line in enumerate(lines, start=1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            try:
                ids.append(UUID(text))
            except ValueError:
                bad.append(f"line {number}: {text[:60]!r}")
        if bad:
            shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise CommandError(f"--ids-file: not deployment ids: {shown}.")
        return ids

    def _show_progress(self) -> bool:
        # A bar is for a person at a terminal; cron, CI and pipes get the summary only.
        return not os.environ.get("CI") and self.stdout.isatty()

    # ---- output ---------------------------------------------------------------

    def _summary(
        self,
        result: BatchResult,
        *,
        dry_run: bool,
        seconds: float | None = None,
        stopped: bool = False,
    ):
        moved_label = "would move" if dry_run else "moved"
        lines = [
            f"matched: {result.matched}",
            f"{moved_label}: {len(result.would_move) if dry_run else result.moved}",
            f"skipped: {result.skipped}",
            f"  overridden (billing actions suspended): {result.skipped_overridden}",
            f"  state changed or locked by another runner: {result.skipped_changed_or_locked}",
            f"  not allowed by the transitions map: {result.skipped_not_allowed}",
            f"failed: {result.failed}",
        ]
        if stopped:
            untouched = result.matched - result.moved - result.skipped - result.failed
            lines.append(f"not attempted: {untouched}")
        if dry_run:
            lines.append("dry run: nothing was changed")
        elif seconds is not None:
            lines.append(f"took: {seconds:.2f}s")
        self.stdout.write("\n".join(lines))


@contextmanager
def refusals(from_state: str, to_state: str):
    """The batch service's refusals (raised before it reads a row) as usage errors."""
    try:
        yield
    except (InvalidTransition, TransitionForbidden) as exc:
        raise CommandError(
            f"The transitions map does not let a batch (system) move {from_state} -> "
            f"{to_state}: {exc}."
        ) from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"--{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
        )
        raise CommandError(problems + ".") from exc
