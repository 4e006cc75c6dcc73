"""A Luminate host whose TLS certificate cannot be verified stops the run instead of being retried."""

from __future__ import annotations

import asyncio
import dataclasses
import http.server
import ssl
import threading

import pytest

from lumisync.luminate import (
    AsyncLuminateClient,
    Credentials,
    LuminateClient,
    RetryPolicy,
    RunLevelError,
    SiteConfig,
)
from support.certificates import make_certificate


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = b'{"getConsResponse":{"cons_id":"1"}}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def self_signed_server(tmp_path):
    certificate = make_certificate(tmp_path, "server")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert_file, certificate.key_file)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _site(host: str) -> SiteConfig:
    return SiteConfig(
        host=host,
        credentials=Credentials("k", "apiuser", "pw"),
        allow_private=True,
        rate=None,
        retry=RetryPolicy(max_attempts=3, base=0.001, cap=0.001),
    )


def test_unverifiable_certificate_is_run_level(self_signed_server):
    with (
        LuminateClient(_site(self_signed_server)) as client,
        pytest.raises(RunLevelError, match="TLS certificate"),
    ):
        client.get_user(cons_id="1")


def test_unverifiable_certificate_is_run_level_for_the_async_client(self_signed_server):
    # One connection: the test server completes TLS handshakes one at a time, in its accept loop.
    site = dataclasses.replace(_site(self_signed_server), concurrency=1)

    async def run():
        async with AsyncLuminateClient(site) as client:
            return [result async for result in client.get_users(["1", "2", "3"])]

    with pytest.raises(RunLevelError, match="TLS certificate"):
        asyncio.run(run())
