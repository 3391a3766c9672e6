"""`manage.py deliver_webhooks [--once] [--concurrency N]`: the delivery worker.

Run one or more anywhere (they share the work through row locks); SIGTERM
(or Ctrl-C) stops claiming, lets the attempts in flight finish, releases
what was claimed but not sent, and exits 0.
"""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand, CommandError

from webhooks.worker import MAX_CONCURRENCY, Worker


class Command(BaseCommand):
    help = "Deliver webhooks: dispatch feed events to endpoints and send them, signed."

    def add_arguments(self, parser):
        parser.add_argument(
            "--once",
            action="store_true",
            help="Deliver what is due now, then exit (cron, tests); retries later are left.",
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            default=8,
            help=f"Attempts in flight at once (threads), 1-{MAX_CONCURRENCY}; default 8.",
        )

    def handle(self, *args, once: bool, concurrency: int, **options):
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise CommandError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
        worker = Worker(concurrency=concurrency)

        def stop(signum, frame):
            worker.stop()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            counts = worker.run(once=once)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write(
            "delivered: {succeeded}, failed attempts: {failed}, gave up: {gave_up}, "
            "released: {released}, endpoints disabled: {disabled}".format(
                succeeded=counts["succeeded"],
                failed=counts["failed_attempts"],
                gave_up=counts["gave_up"],
                released=counts["released"],
                disabled=counts["endpoints_disabled"],
            )
        )
