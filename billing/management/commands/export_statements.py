"""`manage.py export_statements --period YYYY-MM [--format csv|jsonl] [--output PATH]`:
every statement of a period, one record per line, for the invoicing system.

A thin caller of `billing.export` (the fields and the streaming are there).
Arguments are checked before anything is written; a file is written beside
its destination and renamed into place when complete, so a failed export
never leaves a partial file where the invoicing system looks for it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing.export import CHUNK_SIZE, FORMATS, export, parse_period


class Command(BaseCommand):
    help = (
        "Export every statement of a period (all tenants), one record per statement "
        "line, as CSV or JSON Lines. Streams: memory does not grow with the rows."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--period", required=True, metavar="YYYY-MM", help="The month, e.g. 2026-01."
        )
        parser.add_argument(
            "--format", default="csv", help=f"{' or '.join(FORMATS)} (default csv)."
        )
        parser.add_argument(
            "--output",
            metavar="PATH",
            help="The file to write (replaced when complete); default: standard output.",
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=CHUNK_SIZE,
            help=f"Statements read per round trip (default {CHUNK_SIZE}).",
        )

    def handle(self, *args, **options):
        try:
            period = parse_period(options["period"])
        except ValueError as exc:
            raise CommandError(f"--period: {exc}.") from None
        fmt = options["format"]
        if fmt not in FORMATS:
            raise CommandError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}.")
        chunk_size = options["chunk_size"]
        if not 1 <= chunk_size <= 100_000:
            raise CommandError("--chunk-size must be between 1 and 100000.")
        output = options["output"]
        if output in (None, "-"):
            count = export(period, fmt, _Stdout(self.stdout), chunk_size=chunk_size)
        else:
            count = self._to_file(Path(output), period, fmt, chunk_size)
        self.stderr.write(f"exported {count} records of {period} ({fmt})")

    @staticmethod
    def _to_file(path: Path, period, fmt: str, chunk_size: int) -> int:
        if path.is_dir():
            raise CommandError(f"--output: {str(path)!r} is a directory.")
        if not path.parent.is_dir():
            raise CommandError(f"--output: the directory {str(path.parent)!r} does not exist.")
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            with partial.open("w", encoding="utf-8", newline="") as out:
                count = export(period, fmt, out, chunk_size=chunk_size)
            os.replace(partial, path)
        except OSError as exc:
            raise CommandError(f"--output: cannot write {str(path)!r}: {exc.strerror}.") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        return count


class _Stdout:
    """The command's stdout as a plain text stream (no newline added per write)."""

    def __init__(self, wrapper):
        self._out = getattr(wrapper, "_out", sys.stdout)

    def write(self, text: str) -> int:
        return self._out.write(text)
