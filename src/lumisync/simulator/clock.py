"""An injectable clock: real time from a chosen start, or frozen until moved."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self, start: datetime | None = None, frozen: bool = False) -> None:
        if start is None:
            start = datetime.now(UTC).replace(microsecond=0)
        self._lock = threading.Lock()
        self._base = _aware(start)
        self._frozen = frozen
        self._mono = time.monotonic()
        self.start = self._base

    def now(self) -> datetime:
        with self._lock:
            if self._frozen:
                return self._base
            return self._base + timedelta(seconds=time.monotonic() - self._mono)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._base += timedelta(seconds=seconds)
        return self.now()

    def set(self, moment: datetime) -> datetime:
        with self._lock:
            self._base = _aware(moment)
            self._mono = time.monotonic()
        return self.now()

    def freeze(self, frozen: bool = True) -> None:
        current = self.now()
        with self._lock:
            self._frozen = frozen
            self._base = current
            self._mono = time.monotonic()


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
