"""The in-process runner of periodic work used by ``lumisync serve`` (the embedded default).

Each task is a plain function called every ``interval`` seconds on one background thread; a failure is
logged and the loop goes on, so one broken task never stops the others or the web app.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.db import close_old_connections
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


class PeriodicRunner:
    def __init__(self, tasks: dict[str, int], *, clock: Callable[[], float] = time.monotonic):
        self._tasks = {path: (import_string(path), interval) for path, interval in tasks.items()}
        self._next_due = dict.fromkeys(self._tasks, 0.0)
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_due(self) -> list[str]:
        """Run every task whose time has come; return the paths run."""
        ran = []
        for path, (func, interval) in self._tasks.items():
            now = self._clock()
            if now < self._next_due[path]:
                continue
            self._next_due[path] = now + interval
            close_old_connections()
            try:
                func()
            except Exception:
                log.exception("periodic task %s failed", path)
            finally:
                close_old_connections()
            ran.append(path)
        return ran

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="lumisync-periodic", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_due()
            self._stop.wait(1.0)
