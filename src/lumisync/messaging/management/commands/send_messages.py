"""``lumisync send_messages [--loop SECONDS]``: deliver the outbox messages that are due."""

from __future__ import annotations

import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from lumisync.messaging.services import send_due_messages

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Send the queued text messages whose sending window has come; with --loop, keep doing so."

    def add_arguments(self, parser):
        parser.add_argument(
            "--loop",
            type=float,
            metavar="SECONDS",
            help="Keep running, looking for due messages every SECONDS; SIGINT or SIGTERM stops it after "
            "the pass under way.",
        )
        parser.add_argument("--limit", type=int, default=100, help="Messages claimed per pass (default 100).")

    def handle(self, *args, loop: float | None, limit: int, **options):
        if limit < 1:
            raise CommandError(f"--limit must be at least 1, got {limit}.")
        if loop is not None and loop <= 0:
            raise CommandError(f"--loop must be a positive number of seconds, got {loop}.")
        if loop is None:
            self.stdout.write(str(send_due_messages(limit=limit)))
            return
        # Stopping between passes, never inside one, leaves no message claimed but unsent.
        stop = threading.Event()
        previous = {
            signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self._loop(stop, loop, limit)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.stdout.write("Stopped.")

    def _loop(self, stop: threading.Event, seconds: float, limit: int) -> None:
        while not stop.is_set():
            try:
                summary = send_due_messages(limit=limit)
            except DatabaseError:
                # A busy or restarting database must not end a long-running sender; the next pass retries.
                logger.exception("Sending due messages failed; trying again in %s seconds", seconds)
                stop.wait(seconds)
                continue
            if summary.claimed or summary.released:
                self.stdout.write(str(summary))
            # A full batch means more may be due already.
            if summary.claimed < limit:
                stop.wait(seconds)
