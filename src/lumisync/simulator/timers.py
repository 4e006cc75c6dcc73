"""Sleeps for the simulator's injected latency that end within a fraction of a millisecond of their deadline.

asyncio waits on epoll in whole milliseconds, rounded up, and then runs every timer that has come due:
a reply timer fires up to a millisecond late, and replies due within the same millisecond leave
together. At a fixed latency, requests that once left together come back together and are sent again
together, so a client's connections fall into step for the rest of the run and each one waits behind the
others at both ends; a server whose latency varies never stays in step like that. Here one thread
waits on a condition (whose timeouts are precise to microseconds) for the earliest deadline and wakes
the waiting loop through ``call_soon_threadsafe``, which interrupts its epoll wait at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
import threading
import time

_condition = threading.Condition()
_deadlines: list[tuple[float, int, asyncio.AbstractEventLoop, asyncio.Future]] = []
_order = itertools.count()
_thread: threading.Thread | None = None


async def sleep_until(deadline: float) -> None:
    """Wait until ``time.monotonic()`` (the clock of asyncio's loops) reaches ``deadline``."""
    loop = asyncio.get_running_loop()
    woken = loop.create_future()
    entry = (deadline, next(_order), loop, woken)
    with _condition:
        _start()
        heapq.heappush(_deadlines, entry)
        _condition.notify()
    try:
        await woken
    except asyncio.CancelledError:
        # Dropped at once, so that a cancelled sleeper holds on to neither its loop nor memory until its
        # deadline (a request whose client went away, say, with a long latency set).
        with _condition, contextlib.suppress(ValueError):
            _deadlines.remove(entry)
            heapq.heapify(_deadlines)
        raise


def _start() -> None:
    global _thread
    if _thread is None:
        # One thread serves every simulator in the process; as a daemon it never holds the process open.
        _thread = threading.Thread(target=_wake_at_deadlines, name="simulator-timers", daemon=True)
        _thread.start()


def _wake_at_deadlines() -> None:
    with _condition:
        while True:
            if not _deadlines:
                _condition.wait()
                continue
            left = _deadlines[0][0] - time.monotonic()
            if left > 0:
                _condition.wait(left)
                continue
            _deadline, _, loop, woken = heapq.heappop(_deadlines)
            # A loop closed while its sleeper waited refuses the call: nobody is left to wake.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_wake, woken)


def _forget_after_fork() -> None:
    # A forked child has none of its parent's threads, and a lock held by one of them stays held in the
    # child: it starts its own timer thread with fresh state on its first sleep.
    global _condition, _deadlines, _thread
    _condition = threading.Condition()
    _deadlines = []
    _thread = None


os.register_at_fork(after_in_child=_forget_after_fork)


def _wake(woken: asyncio.Future) -> None:
    # A sleeper cancelled in the meantime has a future that is already done.
    if not woken.done():
        woken.set_result(None)
