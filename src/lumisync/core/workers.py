"""Worker processes that end with the process that started them (plain Python: workers import it without
setting Django up)."""

from __future__ import annotations

import multiprocessing
import os
import threading
from multiprocessing.connection import wait


def end_with_parent() -> None:
    """A process pool's initializer: when the process that started the worker ends without closing the pool
    (killed outright, say), the worker ends too, instead of waiting for work for ever."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="lumisync-end-with-parent", daemon=True).start()
