"""AsyncLuminateClient.get_users: bounded, lazy, streaming, and resilient per id."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from lumisync.luminate import (
    AsyncLuminateClient,
    InvalidInput,
    NotFound,
    RetryPolicy,
    RunLevelError,
)
from lumisync.luminate.protocol import RateLimiter


async def collect(client, ids, **kwargs):
    async with contextlib.aclosing(client.get_users(ids, **kwargs)) as stream:
        return [result async for result in stream]


def test_every_id_gets_its_record_or_its_error(sim, make_site):
    good = sim.state.seeded_ids(60)
    ids = [*good[:30], "99999996", "not-a-number", *good[30:]]
    sim.faults.inject("getUser", "error", probability=0.15, code=1)
    sim.faults.inject("getUser", "reset", probability=0.05)
    site = make_site(retry=RetryPolicy(max_attempts=8, base=0.001, cap=0.01))

    async def run():
        async with AsyncLuminateClient(site) as client:
            return await collect(client, ids)

    results = asyncio.run(run())
    by_id = {result.cons_id: result for result in results}
    assert len(results) == len(ids) == len(by_id)
    assert all(by_id[i].ok and by_id[i].record["cons_id"] == i for i in good)
    assert isinstance(by_id["99999996"].error, NotFound)
    assert isinstance(by_id["not-a-number"].error, InvalidInput)
    assert by_id["99999996"].record is None


def most_in_flight_at_the_simulator(sim, work) -> int:
    """Run ``work`` (a coroutine function) against a 50 ms latency; the most requests the simulator held at
    once, which counts what reached it, whatever the client thinks it sent."""
    sim.faults.inject("getUser", "latency", ms=50)
    sim.in_flight_max = 0
    asyncio.run(work())
    return sim.in_flight_max


@pytest.mark.parametrize("width", [1, 4])
def test_get_users_concurrency_is_bounded_and_reached(sim, make_site, width):
    ids = sim.state.seeded_ids(3 * width)
    results = []

    async def work():
        async with AsyncLuminateClient(make_site()) as client:
            results.extend(await collect(client, ids, concurrency=width))

    assert most_in_flight_at_the_simulator(sim, work) == width
    assert len(results) == len(ids) and all(result.ok for result in results)


def test_the_sites_concurrency_bounds_every_call_of_the_client(sim, make_site):
    # Calls not made through get_users meet only the connection lanes' bound.
    ids = sim.state.seeded_ids(12)

    async def work():
        async with AsyncLuminateClient(make_site(concurrency=3)) as client:
            records = await asyncio.gather(*(client.get_user(cons_id=cons_id) for cons_id in ids))
        assert [record["cons_id"] for record in records] == ids

    assert most_in_flight_at_the_simulator(sim, work) == 3


def test_ids_are_read_lazily(sim, make_site):
    pulled = []

    def ids():
        for cons_id in sim.state.seeded_ids(100):
            pulled.append(cons_id)
            yield cons_id

    async def run():
        async with (
            AsyncLuminateClient(make_site(concurrency=4)) as client,
            contextlib.aclosing(client.get_users(ids())) as stream,
        ):
            first = await anext(stream)
            return first, len(pulled)

    first, count = asyncio.run(run())
    assert first.ok
    # The one taken, four in flight and four answered but not yet taken.
    assert count <= 1 + 2 * 4


def test_async_iterable_of_ids(sim, make_site):
    async def ids():
        # Suspends between ids, as a source reading from elsewhere does, while every worker wants one.
        for cons_id in sim.state.seeded_ids(5):
            await asyncio.sleep(0.001)
            yield cons_id

    async def run():
        async with AsyncLuminateClient(make_site()) as client:
            return await collect(client, ids())

    assert sorted(r.cons_id for r in asyncio.run(run())) == sim.state.seeded_ids(5)


def test_run_level_error_stops_the_stream(sim, make_site):
    sim.faults.inject("getUser", "error", count=1, code=2)
    seen = []

    async def run():
        async with AsyncLuminateClient(make_site(concurrency=2)) as client:
            async for result in client.get_users(sim.state.seeded_ids(50)):
                seen.append(result)

    with pytest.raises(RunLevelError) as caught:
        asyncio.run(run())
    assert caught.value.code == 2
    assert len(seen) < 50


def test_rate_limit_paces_requests(sim, make_site):
    # A frozen clock makes the booked slots exact: five requests at 50/s are 20 ms apart.
    waits = []

    class Recording(RateLimiter):
        def reserve(self):
            waits.append(super().reserve())
            return waits[-1]

    async def run():
        limiter = Recording(50.0, clock=lambda: 1000.0)
        async with AsyncLuminateClient(make_site(rate=50.0), rate_limiter=limiter) as client:
            return await collect(client, sim.state.seeded_ids(5), concurrency=5)

    assert all(result.ok for result in asyncio.run(run()))
    assert sorted(round(w, 3) for w in waits) == [0.0, 0.02, 0.04, 0.06, 0.08]


def test_async_client_offers_the_same_methods(sim, make_site):
    group = sim.state.add_group("Async group")

    async def run():
        async with AsyncLuminateClient(make_site()) as client:
            created = await client.create(
                {"primary_email": "async-client@example.org", "custom_boolean50": True},
                interaction_subject="SMS opt-in",
                interaction_body="",
                add_group_ids=[group],
            )
            record = await client.get_user(cons_id=created.cons_id)
            groups = await client.get_user_groups(cons_id=created.cons_id)
            every_group = await client.list_groups(page_size=2)
            return created, record, groups, every_group

    created, record, groups, every_group = asyncio.run(run())
    assert record["cons_id"] == created.cons_id
    assert record["custom_boolean50"] is True
    assert groups == [{"id": group, "label": "Async group"}]
    assert group in {g["id"] for g in every_group}
