"""How close to the ideal getUser rate a client can come at 50 ms latency, by HTTP stack.

    .venv/bin/python bench/http_ceiling.py [--latency-ms 50] [--requests-per-connection 40]

Against the simulator in a separate process (the same getUser form the Luminate client posts), each of
``width`` keep-alive connections sends its requests one after another, for width 1, 8 and 16:

* ``raw``: plain asyncio streams writing the request bytes and reading the reply by its Content-Length;
  the least any Python client can spend per request, so what the simulator and the event loop allow.
* ``httpx``: one ``httpx.AsyncClient`` per connection posting the form.
* ``aiohttp``: one ``aiohttp.ClientSession`` with ``width`` connections, set up as the Luminate client's
  async client sets it up (no cookies, nothing from the environment).

It prints each rate as a share of the ideal (width / latency) and the client's CPU per request; the last
line is one JSON object. The inbound bench's ``api-50ms`` share can be read against these.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlencode

import aiohttp
import httpx
from simulator_process import set_latency, simulator_process

from lumisync.simulator.state import FIRST_CONS_ID

WIDTHS = (1, 8, 16)
SERVLET = "/site/SRConsAPI"


def form(settings: dict) -> dict[str, str]:
    return {
        "method": "getUser",
        "v": "1.0",
        "response_format": "json",
        "api_key": settings["api_key"],
        "login_name": settings["api_login"],
        "login_password": settings["api_password"],
        "cons_id": str(FIRST_CONS_ID),
    }


class RawConnection:
    """A keep-alive connection that writes the request bytes and reads each reply by its Content-Length."""

    def __init__(self, host: str, port: int, body: bytes) -> None:
        self.address = (host, port)
        self.request = (
            f"POST {SERVLET} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(*self.address)

    async def send(self) -> bool:
        self.writer.write(self.request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await self.reader.readexactly(length)
        return head.startswith(b"HTTP/1.1 200")

    async def close(self) -> None:
        self.writer.close()


class HttpxConnection:
    """One ``httpx.AsyncClient`` (one connection) posting the form; the clients share one SSL context, as
    the Luminate client's lanes do, since loading the CA bundle costs tens of milliseconds."""

    def __init__(self, url: str, data: dict[str, str], ssl_context) -> None:
        self.url, self.data = url, data
        self.client = httpx.AsyncClient(verify=ssl_context)

    async def open(self) -> None:
        await self.send()

    async def send(self) -> bool:
        return (await self.client.post(self.url, data=self.data)).status_code == 200

    async def close(self) -> None:
        await self.client.aclose()


class AiohttpConnection:
    """A request at a time through a session shared by every connection of the run."""

    def __init__(self, session: aiohttp.ClientSession, url: str, body: bytes) -> None:
        self.session, self.url, self.body = session, url, body

    async def open(self) -> None:
        await self.send()

    async def send(self) -> bool:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        async with self.session.post(self.url, data=self.body, headers=headers) as response:
            await response.read()
            return response.status == 200

    async def close(self) -> None:
        if not self.session.closed:
            await self.session.close()


async def one_after_another(connection, requests: int) -> int:
    return sum([await connection.send() for _ in range(requests)])


async def measure(settings: dict, stack: str, width: int, requests: int) -> tuple[float, float, int]:
    """Connections opened (and, for httpx and aiohttp, warmed by one request) first; then the timed
    requests."""
    host, port = settings["api_host"].rsplit(":", 1)
    data = form(settings)
    if stack == "raw":
        body = urlencode(data).encode()
        connections = [RawConnection(host, int(port), body) for _ in range(width)]
    elif stack == "aiohttp":
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=width),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )
        body = urlencode(data).encode()
        url = f"http://{settings['api_host']}{SERVLET}"
        connections = [AiohttpConnection(session, url, body) for _ in range(width)]
    else:
        url = f"http://{settings['api_host']}{SERVLET}"
        ssl_context = httpx.create_ssl_context()
        connections = [HttpxConnection(url, data, ssl_context) for _ in range(width)]
    await asyncio.gather(*(connection.open() for connection in connections))
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        answered = sum(
            await asyncio.gather(*(one_after_another(connection, requests) for connection in connections))
        )
        return time.perf_counter() - started, time.process_time() - cpu_started, answered
    finally:
        for connection in connections:
            await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--requests-per-connection", type=int, default=40)
    args = parser.parse_args()
    runs = []
    with simulator_process(10) as settings:
        set_latency(settings, args.latency_ms)
        for stack in ("raw", "httpx", "aiohttp"):
            for width in WIDTHS:
                wall, cpu, answered = asyncio.run(
                    measure(settings, stack, width, args.requests_per_connection)
                )
                sent = width * args.requests_per_connection
                ideal = width * 1000 / args.latency_ms
                runs.append(
                    {
                        "stack": stack,
                        "width": width,
                        "requests": sent,
                        "answered": answered,
                        "requests_per_s": round(sent / wall, 1),
                        "share_of_ideal": round(sent / wall / ideal, 3),
                        "client_cpu_ms_per_request": round(1000 * cpu / sent, 3),
                    }
                )
                print(
                    f"{stack:7} width {width:2}: {sent / wall:7.1f} req/s  ({sent / wall / ideal:.0%} of "
                    f"{ideal:.0f})  client CPU {1000 * cpu / sent:.3f} ms/request  [{answered}/{sent} answered]"
                )
    print(json.dumps({"benchmark": "http_ceiling", "latency_ms": args.latency_ms, "runs": runs}))


if __name__ == "__main__":
    main()
