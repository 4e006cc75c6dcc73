"""The running simulator: HTTP API, control endpoint and optional FTP/FTPS servers."""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime

from .admin import handle_admin
from .api import Api, Reply, Request, redact
from .changefile import write_changed_file
from .clock import Clock
from .config import SimulatorConfig
from .faults import Faults, FtpFaults
from .ftp import FtpServers
from .httpserver import Hang, HttpServer, Reset
from .render import Renderer
from .state import State
from .timers import sleep_until

logger = logging.getLogger(__name__)


class Simulator:
    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config = config or SimulatorConfig()
        self.clock = Clock(config.clock_start, config.clock_frozen)
        self.state = State(config, self.clock)
        self.quirks = config.quirks
        self.renderer = Renderer(self.quirks, config.site_utc_offset_minutes)
        self.api = Api(config, self.state, self.renderer)
        self.faults = Faults(config.seed)
        self.ftp_faults = FtpFaults()
        self.file_options = config.file_options
        self.control_token = config.control_token or secrets.token_urlsafe(18)
        self.latency_ms = config.latency_ms
        self.jitter_ms = config.jitter_ms
        self._log: collections.deque[dict] = collections.deque(maxlen=config.request_log_size)
        self._log_lock = threading.Lock()
        # Requests sleeping on injected latency right now, and the most seen at once.
        self.in_flight = 0
        self.in_flight_max = 0
        self._http = HttpServer(config.host, config.port, self._handle)
        self._ftp: FtpServers | None = None
        self._workdir: str | None = None
        self.ftp_root: str | None = config.ftp_root
        self.ftp_url: str | None = None
        self.ftps_url: str | None = None
        self.ftps_cafile: str | None = None
        self.ftp_user = config.ftp_user
        self.ftp_password = config.ftp_password

    def __repr__(self) -> str:
        return f"Simulator(base_url={self.base_url!r}, org={self.org!r})"

    # ----- lifecycle -----

    def start(self) -> Simulator:
        self._workdir = tempfile.mkdtemp(prefix="luminate-sim-")
        if self.ftp_root is None:
            self.ftp_root = os.path.join(self._workdir, "ftp")
        os.makedirs(self.ftp_root, exist_ok=True)
        try:
            self._http.start()
            if self.config.ftp or self.config.ftps:
                self._ftp = FtpServers(
                    self.config.host,
                    self.ftp_root,
                    self.ftp_user,
                    self.ftp_password,
                    self.ftp_faults,
                    self._workdir,
                )
                if self.config.ftp:
                    port = self._ftp.start_plain(self.config.ftp_port)
                    self.ftp_url = f"ftp://{self.config.host}:{port}/"
                if self.config.ftps:
                    port = self._ftp.start_tls(self.config.ftps_port)
                    self.ftps_url = f"ftps://{self.config.host}:{port}/"
                    self.ftps_cafile = self._ftp.certfile
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._http.stop()
        if self._ftp is not None:
            self._ftp.stop()
            self._ftp = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    # ----- connection settings -----

    @property
    def host(self) -> str:
        return f"{self.config.host}:{self._http.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def org(self) -> str:
        return self.config.org

    @property
    def api_key(self) -> str:
        return self.config.api_key

    @property
    def login_name(self) -> str:
        return self.config.login_name

    @property
    def login_password(self) -> str:
        return self.config.login_password

    def url(self, servlet: str = "SRConsAPI", with_org: bool = True) -> str:
        return f"{self.base_url}/{self.org}/site/{servlet}" if with_org else f"{self.base_url}/site/{servlet}"

    # ----- runtime settings -----

    def set_allowed_cidrs(self, cidrs) -> None:
        self.api.set_allowed_cidrs(cidrs)

    def set_duplicate_emails(self, policy: str) -> None:
        if policy not in ("reject", "allow"):
            raise ValueError(f"duplicate_emails={policy!r} must be 'reject' or 'allow'")
        self.api.duplicate_emails = policy

    def set_latency(self, ms: int, jitter_ms: int = 0) -> None:
        if ms < 0 or jitter_ms < 0:
            raise ValueError(f"latency ms={ms!r} and jitter_ms={jitter_ms!r} must be >= 0")
        self.latency_ms, self.jitter_ms = ms, jitter_ms

    @property
    def request_log(self) -> list[dict]:
        with self._log_lock:
            return list(self._log)

    def clear_request_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    def write_changed_file(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        mode: str = "liberal",
        **file_options,
    ) -> str:
        if self.ftp_root is None:
            raise RuntimeError("the simulator is not started, so it has no FTP folder to write to")
        options = self.file_options.replace(**file_options) if file_options else self.file_options
        return write_changed_file(
            self.state, self.ftp_root, self.org, options, self.ftp_faults, since, until, mode
        )

    # ----- request handling -----

    def _record(self, request: Request, call, status, fault: str | None) -> None:
        entry = {
            "time": self.clock.now().isoformat(),
            "http_method": request.http_method,
            "path": request.path,
            "servlet": getattr(call, "servlet", None),
            "method": getattr(call, "method", None),
            "params": redact(call.params) if call is not None else {},
            "status": status,
            "fault": fault,
            "client_ip": request.client_ip,
        }
        with self._log_lock:
            self._log.append(entry)

    async def _handle(self, request: Request) -> Reply:
        if request.path.startswith("/_sim/") or request.path == "/_sim":
            return handle_admin(self, request)
        routed = self.api.route(request)
        if isinstance(routed, Reply):
            self._record(request, None, routed.status, None)
            return routed
        call = routed
        delay, rule = self.faults.pick(call.method)
        delay += self.latency_ms / 1000.0
        if self.jitter_ms:
            delay += self.faults.jitter(self.jitter_ms)
        if delay > 0:
            # Counted from the request's arrival, so the time spent reading and routing it (and waiting
            # behind other requests on the serving loop) is part of the latency, not added to it.
            arrived = request.received_at if request.received_at is not None else time.monotonic()
            self.in_flight += 1
            self.in_flight_max = max(self.in_flight_max, self.in_flight)
            try:
                await sleep_until(arrived + delay)
            finally:
                self.in_flight -= 1
        if rule is None:
            try:
                reply = self.api.execute(call)
            except Exception:
                # What Luminate does with an internal exception: code 1, details only in its own logs.
                logger.exception("simulator: internal error in %s.%s", call.servlet, call.method)
                reply = self.api.error(call, 1)
            self._record(request, call, reply.status, None)
            return reply
        self._record(
            request, call, None if rule.kind in ("hang", "reset") else rule.params.get("status"), rule.kind
        )
        if rule.kind == "hang":
            raise Hang
        if rule.kind == "reset":
            raise Reset
        if rule.kind == "error":
            reply = self.api.error(call, rule.params["code"], rule.params.get("message"))
        elif rule.kind == "http":
            body = b""
            if rule.params["body"] == "html":
                body = (
                    f"<html><head><title>{rule.params['status']} Service Unavailable</title></head>"
                    "<body><h1>The server is temporarily unable to service your request.</h1></body></html>"
                ).encode()
            reply = Reply(rule.params["status"], body, "text/html;charset=UTF-8")
        else:
            reply = self._malformed(call, rule.params["variant"])
        with self._log_lock:
            self._log[-1]["status"] = reply.status
        return reply

    def _malformed(self, call, variant: str) -> Reply:
        if variant == "html_200":
            body = (
                b"<html><body><h1>Site maintenance</h1><p>Luminate Online is being updated.</p></body></html>"
            )
            return Reply(200, body, "text/html;charset=UTF-8")
        if variant == "truncated_json":
            call.json = True
            full = self.api.execute(call)
            return Reply(200, full.body[: max(1, len(full.body) // 2)], "application/json;charset=UTF-8")
        if variant == "broken_xml":
            call.json = False
            full = self.api.execute(call)
            return Reply(200, full.body[: max(1, len(full.body) * 2 // 3)] + b"<", "text/xml;charset=UTF-8")
        full = self.api.execute(call)
        return Reply(full.status, full.body, "text/html;charset=UTF-8")


@contextlib.contextmanager
def running_simulator(config: SimulatorConfig | None = None) -> Iterator[Simulator]:
    sim = Simulator(config).start()
    try:
        yield sim
    finally:
        sim.stop()
