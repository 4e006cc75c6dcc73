"""Fewer passes of Python's cycle collector while a sync run builds and drops thousands of objects a second.

The collector's youngest generation is examined every 700 new container objects by default. A sync run
creates several model instances, dicts and lists per record and keeps them for the whole chunk, so almost
every pass examines objects that are still alive and moves them on to older generations, which are then
examined again: about a twentieth of a file-mode run. While a run lasts, the youngest generation is
examined every :data:`YOUNG_THRESHOLD` objects and the older ones as often as before relative to it.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

YOUNG_THRESHOLD = 10_000

_lock = threading.Lock()
_holders = 0
_before: tuple[int, ...] = ()


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the collector's thresholds for the duration; nested and concurrent uses (two runs in one
    process) restore them when the last one ends."""
    global _holders, _before
    with _lock:
        if _holders == 0:
            _before = gc.get_threshold()
            gc.set_threshold(max(YOUNG_THRESHOLD, _before[0]), *_before[1:])
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                gc.set_threshold(*_before)
