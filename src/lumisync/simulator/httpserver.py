"""HTTP/1.1 server (asyncio + h11) for the API and the control endpoint.

One event loop in a background thread serves every connection with keep-alive; injected latency is an
asyncio sleep, so slow answers never hold up other requests in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

import h11

from .api import Reply, Request

MAX_BODY = 4 * 1024 * 1024
HANG_LIMIT_SECONDS = 600


class Hang(Exception):
    """Answer nothing; hold the connection until the client gives up."""


class Reset(Exception):
    """Drop the connection with a TCP reset."""


class HttpServer:
    def __init__(self, host: str, port: int, handler: Callable) -> None:
        """`handler(request) -> awaitable Reply`, raising Hang or Reset for those faults."""
        self.host = host
        self.port = port
        self._handler = handler
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._tasks: set[asyncio.Task] = set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="luminate-sim-http", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._connection, self.host, self.port, backlog=512, reuse_address=True)
            )
        except OSError as err:
            self._error = err
            self._ready.set()
            loop.close()
            return
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            loop.stop()

        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(shutdown(), loop)
        self._thread.join(10)
        self._loop = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = writer.get_extra_info("peername")
        client_ip = peer[0] if peer else ""
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        try:
            while True:
                request = await self._read_request(conn, reader, client_ip)
                if request is None:
                    break
                try:
                    reply = await self._handler(request)
                except Hang:
                    await self._hang(reader)
                    break
                except Reset:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                if not await self._send(conn, writer, reply):
                    break
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    break
                try:
                    conn.start_next_cycle()
                except h11.LocalProtocolError:
                    break
        except (ConnectionError, asyncio.CancelledError, h11.RemoteProtocolError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _read_request(self, conn: h11.Connection, reader: asyncio.StreamReader, client_ip: str):
        head = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                if not data and head is None and conn.their_state in (h11.IDLE, h11.CLOSED):
                    return None
                continue
            if isinstance(event, h11.ConnectionClosed):
                return None
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY:
                    raise h11.RemoteProtocolError("body too large")
            elif isinstance(event, h11.EndOfMessage):
                break
        received_at = asyncio.get_running_loop().time()
        target = urlsplit(head.target.decode("latin-1"))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
        return Request(
            http_method=head.method.decode("ascii"),
            path=target.path,
            query=target.query,
            body=bytes(body),
            content_type=headers.get("content-type", ""),
            client_ip=client_ip,
            headers=headers,
            received_at=received_at,
        )

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, reply: Reply) -> bool:
        headers = [
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(reply.body))),
            ("Server", "LuminateOnlineSimulator"),
            *reply.headers,
        ]
        try:
            data = conn.send(h11.Response(status_code=reply.status, headers=headers))
            if reply.body:
                data += conn.send(h11.Data(data=reply.body))
            data += conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            return False
        writer.write(data)
        await writer.drain()
        return True

    @staticmethod
    async def _hang(reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            async with asyncio.timeout(HANG_LIMIT_SECONDS):
                while await reader.read(65536):
                    pass
