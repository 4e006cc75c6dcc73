"""AsyncLuminateClient's connections: never more than the site's concurrency, kept alive and reused,
given back after errors and cancellations, and all closed by ``aclose``.

The client talks to the simulator through a loopback TCP relay that counts the connections it carries.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from lumisync.luminate import (
    AsyncLuminateClient,
    LuminateClient,
    RetryPolicy,
    RunLevelError,
    TransientError,
)


class CountingRelay:
    """Relays each TCP connection to the simulator; counts those opened in all and those open at once."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self.opened = 0
        self.open = 0
        self.peak = 0
        self._server: asyncio.Server | None = None
        self._closed = asyncio.Event()

    async def __aenter__(self) -> CountingRelay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def all_closed(self) -> None:
        """Wait until every relayed connection has been closed by one side or the other."""
        while self.open:
            self._closed.clear()
            await asyncio.wait_for(self._closed.wait(), timeout=10)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The client closes a connection before it opens the next, but the loop may see the new one first:
        # a few turns let the closed one's end of stream (already waiting) be counted before it.
        for _ in range(5):
            await asyncio.sleep(0)
        self.opened += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        counted = True

        def closed_by_client() -> None:
            nonlocal counted
            if counted:
                counted = False
                self.open -= 1
                self._closed.set()

        async def from_client() -> None:
            # Counted closed when the client closes it, not once the simulator has answered the close too.
            await _pipe(reader, upstream_writer)
            closed_by_client()

        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        try:
            await asyncio.gather(from_client(), _pipe(upstream_reader, writer))
        finally:
            closed_by_client()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _collect(client, ids, **kwargs):
    async with contextlib.aclosing(client.get_users(ids, **kwargs)) as stream:
        return [result async for result in stream]


def _run(make_site, sim, body, **site_changes):
    """Run ``body(client, relay)``, close the client, and wait until it has closed every connection.

    The deadlines only turn a hang (a connection never given back or never closed) into a failure. The
    read timeout is long because a timeout closes a connection and opens another, which these counts
    must not see on a busy machine.
    """
    site_changes.setdefault("read_timeout", 30.0)

    async def main():
        async with CountingRelay(sim.host) as relay:
            client = AsyncLuminateClient(make_site(host=relay.host, **site_changes))
            try:
                outcome = await asyncio.wait_for(body(client, relay), timeout=60)
            finally:
                await client.aclose()
            await relay.all_closed()
            return outcome, relay

    return asyncio.run(main())


@pytest.mark.parametrize("width", [None, 16])
def test_connections_are_bounded_by_the_site_and_kept_alive(sim, make_site, width):
    # With a reply delay every request of a batch is in flight at once, so each needs a connection.
    sim.faults.inject("getUser", "latency", ms=20)
    ids = sim.state.seeded_ids(24)

    async def body(client, relay):
        first = await _collect(client, ids, concurrency=width)
        second = await _collect(client, ids, concurrency=width)
        return first + second

    results, relay = _run(make_site, sim, body, concurrency=4)
    assert len(results) == 48 and all(result.ok for result in results)
    assert relay.opened == 4
    assert relay.peak == 4


def test_other_calls_share_the_bound(sim, make_site):
    ids = sim.state.seeded_ids(12)

    async def body(client, relay):
        return await asyncio.gather(*(client.get_user_groups(cons_id=cons_id) for cons_id in ids))

    groups, relay = _run(make_site, sim, body, concurrency=3)
    assert len(groups) == 12
    assert relay.peak <= 3


def test_a_broken_connection_is_replaced(sim, make_site):
    sim.faults.inject("getUser", "reset", count=1)
    ids = sim.state.seeded_ids(5)

    async def body(client, relay):
        return await _collect(client, ids)

    results, relay = _run(
        make_site, sim, body, concurrency=1, retry=RetryPolicy(max_attempts=3, base=0.001, cap=0.001)
    )
    assert sorted(result.cons_id for result in results if result.ok) == ids
    assert relay.opened == 2
    assert relay.peak == 1


def test_cancelled_and_failed_streams_give_their_connections_back(sim, make_site):
    sim.faults.inject("getUser", "latency", ms=30)
    ids = sim.state.seeded_ids(40)

    async def body(client, relay):
        # Closed early: the requests still in flight are cancelled.
        async with contextlib.aclosing(client.get_users(ids)) as stream:
            await anext(stream)
        # A run-level error cancels the others too. Every getUser fails until the faults are cleared:
        # requests the closed stream had already sent may still reach the simulator after this point.
        sim.faults.inject("getUser", "error", code=2)
        with pytest.raises(RunLevelError):
            await _collect(client, ids)
        sim.faults.clear()
        sim.faults.inject("getUser", "latency", ms=30)
        return await _collect(client, ids)

    results, relay = _run(make_site, sim, body, concurrency=3)
    assert len(results) == 40 and all(result.ok for result in results)
    assert relay.peak <= 3


def test_a_request_cancelled_at_any_moment_leaves_the_client_usable(sim, make_site):
    # Cancelled at a spread of moments (connecting, sending, waiting for the reply), each on a
    # one-connection client, then a request that must be answered.
    sim.faults.inject("getUser", "latency", ms=5)
    cons_id = sim.state.seeded_ids(1)[0]

    async def body(client, relay):
        answered = []
        for step in range(40):
            # Twice: the second time on the fresh connection that replaces the one the first cancel closed.
            for _ in range(2):
                attempt = asyncio.ensure_future(client.get_user(cons_id=cons_id))
                await asyncio.sleep(step * 0.0003)
                attempt.cancel()
                await asyncio.gather(attempt, return_exceptions=True)
            answered.append(await client.get_user(cons_id=cons_id))
            # A cancelled request's connection is closed, not left open beside the one now in use (the
            # relay may still be seeing a close through while the next request opens its connection).
            still_open.append(relay.open)
        return answered

    still_open = []
    answered, relay = _run(make_site, sim, body, concurrency=1)
    assert [record["cons_id"] for record in answered] == [cons_id] * 40
    assert still_open == [1] * 40


@pytest.mark.parametrize("exempt", [False, True], ids=["proxied", "exempt"])
def test_both_clients_send_through_the_environments_proxy_unless_the_host_is_exempt(
    sim, make_site, monkeypatch, exempt
):
    # The relay stands in for a forward proxy: it passes the absolute-form requests on to the simulator.
    cons_ids = sim.state.seeded_ids(3)

    async def main():
        async with CountingRelay(sim.host) as proxy:
            _proxy_environment(
                monkeypatch,
                http_proxy=f"http://{proxy.host}",
                **({"no_proxy": "127.0.0.1"} if exempt else {}),
            )
            async with AsyncLuminateClient(make_site()) as client:
                streamed = await _collect(client, cons_ids)
            proxied_async = proxy.opened
            with LuminateClient(make_site()) as client:
                read = await asyncio.to_thread(client.get_user, cons_id=cons_ids[0])
            return streamed, read, proxied_async, proxy.opened - proxied_async

    streamed, read, proxied_async, proxied_sync = asyncio.run(main())
    assert sorted(result.cons_id for result in streamed if result.ok) == sorted(cons_ids)
    assert read["cons_id"] == cons_ids[0]
    if exempt:
        assert (proxied_async, proxied_sync) == (0, 0)
    else:
        assert proxied_async >= 1 and proxied_sync >= 1


def _proxy_environment(monkeypatch, **values: str) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("http_proxy", "https://user:s3cret-pw@proxy.example:3128"),
        ("all_proxy", "http://user:s3cret-pw@[bad"),
    ],
    ids=["https-proxy", "not-a-url"],
)
def test_a_proxy_the_reads_cannot_use_stops_the_run_naming_the_variable_not_its_value(
    sim, make_site, monkeypatch, variable, value
):
    _proxy_environment(monkeypatch, **{variable: value})

    async def main():
        async with AsyncLuminateClient(make_site()) as client:
            await _collect(client, sim.state.seeded_ids(2))

    with pytest.raises(RunLevelError) as raised:
        asyncio.run(main())
    assert f"{variable.upper()} is not" in str(raised.value)
    assert "s3cret-pw" not in str(raised.value)


def test_a_name_lookup_that_never_answers_ends_at_the_connect_timeout(sim, make_site):
    port = sim.host.rsplit(":", 1)[1]

    async def main():
        async def never(*args, **kwargs):
            await asyncio.Event().wait()

        asyncio.get_running_loop().getaddrinfo = never
        site = make_site(host=f"localhost:{port}", connect_timeout=0.2, retry=RetryPolicy(max_attempts=1))
        async with AsyncLuminateClient(site) as client:
            # The deadline only turns a hang into a failure.
            await asyncio.wait_for(client.get_user(cons_id=sim.state.seeded_ids(1)[0]), timeout=10)

    with pytest.raises(TransientError, match="did not answer"):
        asyncio.run(main())
