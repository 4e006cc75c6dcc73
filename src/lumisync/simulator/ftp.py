"""Plain FTP and explicit FTPS (AUTH TLS, protected data channel) servers for the nightly file."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyftpdlib.authorizers import AuthenticationFailed, DummyAuthorizer
from pyftpdlib.handlers import DTPHandler, FTPHandler, TLS_DTPHandler, TLS_FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

from .faults import FtpFaults

logging.getLogger("pyftpdlib").setLevel(logging.WARNING)


def make_certificate(folder: str) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1/localhost; returns (certfile, keyfile)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile = os.path.join(folder, "ftps-cert.pem")
    keyfile = os.path.join(folder, "ftps-key.pem")
    with open(certfile, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(keyfile, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return certfile, keyfile


class _Authorizer(DummyAuthorizer):
    def __init__(self, faults: FtpFaults) -> None:
        super().__init__()
        self._faults = faults

    def validate_authentication(self, username, password, handler):
        if self._faults.consume("login"):
            raise AuthenticationFailed("Login incorrect.")
        super().validate_authentication(username, password, handler)


class _CutProducer:
    """Yields the first half of the file only."""

    def __init__(self, data: bytes) -> None:
        self._data = data[: len(data) // 2]

    def more(self) -> bytes:
        data, self._data = self._data, b""
        return data


class _CutMixin:
    """A data channel that, after a cut transfer, answers 426 instead of 226 as a dropped link would."""

    _sim_cut = False

    def push_with_producer(self, producer):
        if isinstance(producer, _CutProducer):
            self._sim_cut = True
        return super().push_with_producer(producer)

    def handle_close(self):
        if self._sim_cut and not self._closed:
            self._resp = ("426 Connection closed; transfer aborted.", logging.getLogger("pyftpdlib").debug)
            self.close()
            return
        super().handle_close()


class _PlainDTP(_CutMixin, DTPHandler):
    pass


class _TlsDTP(_CutMixin, TLS_DTPHandler):
    pass


class _FaultMixin:
    sim_faults: FtpFaults

    def ftp_RETR(self, file):
        if self.sim_faults.consume("cut"):
            try:
                with open(file, "rb") as fh:
                    data = fh.read()
            except OSError as err:
                self.respond(f"550 {err.strerror}.")
                return None
            self.push_dtp_data(_CutProducer(data), isproducer=True, cmd="RETR")
            return file
        return super().ftp_RETR(file)


class _PlainHandler(_FaultMixin, FTPHandler):
    dtp_handler = _PlainDTP


class _TlsHandler(_FaultMixin, TLS_FTPHandler):
    tls_control_required = True
    tls_data_required = True
    dtp_handler = _TlsDTP

    def ftp_AUTH(self, line):
        if self.sim_faults.consume("tls_refused"):
            self.respond("534 TLS not available; request denied for policy reasons.")
            return
        super().ftp_AUTH(line)


class FtpServers:
    """One FTP server per protocol, each on its own port and thread, sharing one home folder."""

    def __init__(
        self, host: str, root: str, user: str, password: str, faults: FtpFaults, cert_dir: str
    ) -> None:
        self.host = host
        self.root = root
        self.faults = faults
        self.authorizer = _Authorizer(faults)
        self.authorizer.add_user(user, password, root, perm="elr")
        self.cert_dir = cert_dir
        self.certfile: str | None = None
        self._servers: list[tuple[FTPServer, threading.Thread, threading.Event]] = []

    def _start(self, handler_base: type, port: int, **attrs) -> int:
        handler = type(
            handler_base.__name__,
            (handler_base,),
            {
                "authorizer": self.authorizer,
                "sim_faults": self.faults,
                "banner": "Luminate Online FTP ready.",
                "passive_ports": None,
                # Real servers stall a failed login for seconds; a simulator used by tests should not.
                "auth_failed_timeout": 0.2,
                **attrs,
            },
        )
        # Each server gets its own IOLoop: pyftpdlib's shared default loop is not safe across threads.
        ioloop = IOLoop()
        server = FTPServer((self.host, port), handler, ioloop=ioloop)
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                ioloop.loop(timeout=0.05, blocking=False)
            server.close_all()

        thread = threading.Thread(target=loop, name=f"luminate-sim-{handler_base.__name__}", daemon=True)
        thread.start()
        self._servers.append((server, thread, stop))
        return server.address[1]

    def start_plain(self, port: int) -> int:
        return self._start(_PlainHandler, port)

    def start_tls(self, port: int) -> int:
        if self.certfile is None:
            self.certfile, keyfile = make_certificate(self.cert_dir)
            self.keyfile = keyfile
        return self._start(_TlsHandler, port, certfile=self.certfile, keyfile=self.keyfile)

    def stop(self) -> None:
        for _server, thread, stop in self._servers:
            stop.set()
            thread.join(5)
        self._servers.clear()
