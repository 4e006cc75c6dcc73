"""Real FTP, FTPS and HTTPS servers on 127.0.0.1 for the changed-file tests."""

from __future__ import annotations

import errno
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from changed_file_accounts import PASSWORD, USER
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.exceptions import _FileReadWriteError
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

from support.certificates import Certificate, make_certificate


@pytest.fixture(scope="session")
def server_cert(tmp_path_factory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("certs"), "server")


@pytest.fixture(scope="session")
def other_cert(tmp_path_factory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("certs-other"), "other")


@pytest.fixture
def home(tmp_path) -> Path:
    folder = tmp_path / "ftp-home"
    folder.mkdir()
    return folder


class _Truncated:
    """Sends the first ``limit`` bytes of a file, then ends (the server reports success) or fails (the
    server aborts with 426), like a server whose disk or network gives out mid-file."""

    def __init__(self, producer, limit: int, abort: bool) -> None:
        self._producer, self._left, self._abort = producer, limit, abort

    def more(self) -> bytes:
        if self._left <= 0:
            if self._abort:
                raise _FileReadWriteError(OSError(errno.EIO, "I/O error"))
            return b""
        data = self._producer.more()[: self._left]
        self._left -= len(data)
        return data


class _CuttingHandler(FTPHandler):
    use_sendfile = False
    cut_after = 100
    abort = False

    def push_dtp_data(self, data, isproducer=False, file=None, cmd=None):
        if cmd == "RETR":
            data = _Truncated(data, self.cut_after, self.abort)
        super().push_dtp_data(data, isproducer=isproducer, file=file, cmd=cmd)


@dataclass
class FTPServerInfo:
    url: str
    home: Path
    port: int


def _serve(handler: type[FTPHandler], home: Path):
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(home), perm="elr")
    handler.authorizer = authorizer
    handler.passive_ports = None
    handler.auth_failed_timeout = 0
    # Each server gets its own IO loop: pyftpdlib shares one per process by default, and closing one
    # server would close the others.
    server = FTPServer(("127.0.0.1", 0), handler, ioloop=IOLoop())
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False)
        server.close_all()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return server.address[1], stop, thread


@pytest.fixture
def start_ftp(home):
    """Start an FTP(S) server with the given handler class; stopped at the end of the test."""
    running = []

    def start(handler: type[FTPHandler], scheme: str = "ftp") -> FTPServerInfo:
        port, stop, thread = _serve(handler, home)
        running.append((stop, thread))
        return FTPServerInfo(f"{scheme}://127.0.0.1:{port}/", home, port)

    yield start
    for stop, thread in running:
        stop.set()
        thread.join(5)


@pytest.fixture
def ftp_server(start_ftp) -> FTPServerInfo:
    return start_ftp(type("Handler", (FTPHandler,), {}))


@pytest.fixture
def ftps_server(start_ftp, server_cert) -> FTPServerInfo:
    handler = type(
        "TLSHandler",
        (TLS_FTPHandler,),
        {
            "certfile": str(server_cert.cert_file),
            "keyfile": str(server_cert.key_file),
            "tls_control_required": True,
            "tls_data_required": True,
            "ssl_context": None,
        },
    )
    return start_ftp(handler, "ftps")


@pytest.fixture
def cutting_ftp_server(start_ftp):
    def start(*, cut_after: int, abort: bool) -> FTPServerInfo:
        handler = type("CutHandler", (_CuttingHandler,), {"cut_after": cut_after, "abort": abort})
        return start_ftp(handler)

    return start


# HTTPS


@dataclass
class HTTPServerInfo:
    base: str
    routes: dict
    requests: list


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, headers, body = route
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if "Content-Length" in headers:
            self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def https_server(server_cert):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_cert.cert_file, server_cert.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.routes = {}
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield HTTPServerInfo(f"https://127.0.0.1:{server.server_address[1]}", server.routes, server.requests)
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.routes = {}
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield HTTPServerInfo(f"http://127.0.0.1:{server.server_address[1]}", server.routes, server.requests)
    server.shutdown()
    server.server_close()
    thread.join(5)
