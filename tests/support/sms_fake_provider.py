"""A Twilio-compatible Messages API on 127.0.0.1, for tests: records what it receives, fails on request.

Plain http by default; given a certificate it serves https, as a real provider does.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from support.certificates import Certificate

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "tok-7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c2e"
FROM_NUMBER = "+12025550100"


@dataclass
class Received:
    path: str
    username: str
    password: str
    form: dict[str, str]
    sid: str = ""


@dataclass
class Failure:
    status: int
    code: int | None = None
    message: str = ""
    delay: float = 0.0


@dataclass
class FakeProvider:
    account_sid: str
    auth_token: str
    received: list[Received] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    base_url: str = ""

    def fail_next(
        self, status: int, *, code: int | None = None, message: str = "", delay: float = 0.0
    ) -> None:
        """The next request gets this answer instead of being accepted (a delay without status 0 hangs)."""
        self.failures.append(Failure(status, code, message, delay))


def _handler(provider: FakeProvider, lock: threading.Lock):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
            username, password = _basic_auth(self.headers.get("Authorization", ""))
            record = Received(self.path, username, password, form)
            with lock:
                provider.received.append(record)
                failure = provider.failures.pop(0) if provider.failures else None
            if failure is not None:
                time.sleep(failure.delay)
                body = {"code": failure.code, "message": failure.message, "status": failure.status}
                return self._json(failure.status, body)
            expected = f"/2010-04-01/Accounts/{provider.account_sid}/Messages.json"
            if self.path != expected:
                return self._json(
                    404, {"code": 20404, "message": "The requested resource was not found", "status": 404}
                )
            if (username, password) != (provider.account_sid, provider.auth_token):
                return self._json(401, {"code": 20003, "message": "Authentication Error", "status": 401})
            sid = "SM" + uuid.uuid4().hex
            record.sid = sid
            return self._json(
                201,
                {
                    "sid": sid,
                    "account_sid": provider.account_sid,
                    "to": form.get("To"),
                    "from": form.get("From"),
                    "body": form.get("Body"),
                    "status": "queued",
                },
            )

        def _json(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _basic_auth(header: str) -> tuple[str, str]:
    if not header.startswith("Basic "):
        return "", ""
    username, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return username, password


class running:
    """Context manager: a FakeProvider served on an ephemeral loopback port in a thread, over https with
    ``certificate`` (see :func:`support.certificates.make_certificate`) when one is given."""

    def __init__(self, account_sid: str, auth_token: str, *, certificate: Certificate | None = None) -> None:
        self.provider = FakeProvider(account_sid, auth_token)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.provider, threading.Lock()))
        self.server.daemon_threads = True
        scheme = "http"
        if certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certificate.cert_file, certificate.key_file)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.provider.base_url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FakeProvider:
        self.thread.start()
        return self.provider

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
