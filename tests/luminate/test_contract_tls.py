"""A Luminate host whose TLS certificate cannot be verified stops the run instead of being retried."""

from __future__ import annotations

import http.server
import ssl
import threading

import pytest

from lumisync.luminate import Credentials, LuminateClient, RetryPolicy, RunLevelError, SiteConfig
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


def test_unverifiable_certificate_is_run_level(self_signed_server):
    site = SiteConfig(
        host=self_signed_server,
        credentials=Credentials("k", "apiuser", "pw"),
        allow_private=True,
        rate=None,
        retry=RetryPolicy(max_attempts=3, base=0.001, cap=0.001),
    )
    with LuminateClient(site) as client, pytest.raises(RunLevelError, match="TLS certificate"):
        client.get_user(cons_id="1")
