"""Both clients keep no cookies: Luminate keeps no login state between calls (every call carries its
credentials), so a session cookie a response sets is never sent back.

The server here answers every request with a getUser reply the simulator gave and a session cookie, as a
servlet container does, and notes whether each request carried a Cookie header.
"""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from lumisync.luminate import AsyncLuminateClient, LuminateClient


class SessionCookieServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, reply: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.reply = reply
        self.carried_cookie: list[bool] = []

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients use it
    server: SessionCookieServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.carried_cookie.append("Cookie" in self.headers)
        self.send_response(200)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Set-Cookie", "JSESSIONID=A1B2C3D4E5; Path=/; HttpOnly")
        self.send_header("Content-Length", str(len(self.server.reply)))
        self.end_headers()
        self.wfile.write(self.server.reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def cookie_server(sim):
    cons_id = sim.state.seeded_ids(1)[0]
    reply = httpx.post(
        f"http://{sim.host}/{sim.org}/site/SRConsAPI",
        data={
            "method": "getUser",
            "v": "1.0",
            "response_format": "json",
            "api_key": sim.api_key,
            "login_name": sim.login_name,
            "login_password": sim.login_password,
            "cons_id": cons_id,
        },
    )
    assert reply.status_code == 200 and cons_id in reply.text
    server = SessionCookieServer(reply.content)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, cons_id
    server.shutdown()
    server.server_close()


def test_the_client_sends_back_no_session_cookie(cookie_server, make_site):
    server, cons_id = cookie_server
    with LuminateClient(make_site(host=server.host)) as client:
        records = [client.get_user(cons_id=cons_id) for _ in range(3)]

    assert [record["cons_id"] for record in records] == [cons_id] * 3
    assert server.carried_cookie == [False, False, False]


def test_the_async_client_sends_back_no_session_cookie(cookie_server, make_site):
    server, cons_id = cookie_server

    async def main():
        async with AsyncLuminateClient(make_site(host=server.host, concurrency=1)) as client:
            return [await client.get_user(cons_id=cons_id) for _ in range(3)]

    records = asyncio.run(main())

    assert [record["cons_id"] for record in records] == [cons_id] * 3
    assert server.carried_cookie == [False, False, False]
