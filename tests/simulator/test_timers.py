"""The simulator's latency sleeps: never early, in deadline order, across loops, and safe to cancel."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import threading
import time

from lumisync.simulator import timers
from lumisync.simulator.timers import sleep_until

# Only a guard against a sleeper that is never woken, so a broken timer fails instead of hanging.
NEVER = 10.0


def test_sleepers_wake_at_their_deadlines_and_in_their_order():
    offsets = [0.002 * n for n in range(1, 21)]
    random.Random(7).shuffle(offsets)

    async def run() -> list[tuple[float, float]]:
        start = time.monotonic()
        woken: list[tuple[float, float]] = []

        async def sleeper(deadline: float) -> None:
            await sleep_until(deadline)
            woken.append((deadline, time.monotonic()))

        await asyncio.wait_for(asyncio.gather(*(sleeper(start + offset) for offset in offsets)), NEVER)
        return woken

    woken = asyncio.run(run())
    assert [deadline for deadline, _ in woken] == sorted(deadline for deadline, _ in woken)
    assert all(at >= deadline for deadline, at in woken)


def test_a_deadline_already_past_wakes_at_once():
    async def run() -> None:
        await asyncio.wait_for(sleep_until(time.monotonic() - 1), NEVER)

    asyncio.run(run())


def test_a_cancelled_sleeper_is_forgotten_and_leaves_the_others_waking():
    async def run() -> tuple[bool, int]:
        far = asyncio.ensure_future(sleep_until(time.monotonic() + 3600))
        await asyncio.sleep(0)
        waiting = len(timers._deadlines)
        far.cancel()
        await asyncio.gather(far, return_exceptions=True)
        await asyncio.wait_for(sleep_until(time.monotonic() + 0.01), NEVER)
        return far.cancelled(), waiting - len(timers._deadlines)

    cancelled, dropped = asyncio.run(run())
    assert cancelled and dropped == 1


def _sleep_briefly_in_a_child() -> None:
    asyncio.run(asyncio.wait_for(sleep_until(time.monotonic() + 0.01), 2))


def test_a_forked_child_gets_timers_of_its_own():
    # The parent's timer thread runs (and may hold its lock) when the child is forked.
    asyncio.run(asyncio.wait_for(sleep_until(time.monotonic() + 0.01), NEVER))
    child = multiprocessing.get_context("fork").Process(target=_sleep_briefly_in_a_child)
    child.start()
    child.join(NEVER)
    assert child.exitcode == 0


def test_loops_in_different_threads_are_each_woken_on_their_own_loop():
    woken_on: dict[str, threading.Thread] = {}

    def in_thread(name: str) -> None:
        async def run() -> None:
            await asyncio.wait_for(sleep_until(time.monotonic() + 0.01), NEVER)
            woken_on[name] = threading.current_thread()

        asyncio.run(run())

    threads = [threading.Thread(target=in_thread, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(NEVER)
    assert woken_on == {"first": threads[0], "second": threads[1]}
