"""Request building, reply parsing, pacing and retries, free of any I/O.

The synchronous and the asynchronous clients share all of this; each only moves bytes and sleeps.
An API method is written once as a *plan*: a generator that yields :class:`Call` (send this request,
send me back the payload or throw me the error) and :class:`Pause` (sleep this long), and returns the
method's result. :func:`attempts` is the plan step that retries transient failures.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from lumisync.luminate.config import RetryPolicy, SiteConfig
from lumisync.luminate.errors import (
    LuminateError,
    RunLevelError,
    TransientError,
    error_for_code,
)
from lumisync.luminate.normalize import integer, text

log = logging.getLogger("lumisync.luminate")

API_VERSION = "1.0"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=UTF-8"
_RESERVED = frozenset(
    {"method", "v", "api_key", "login_name", "login_password", "response_format", "suppress_response_codes"}
)


@dataclass(frozen=True)
class Call:
    """One API request: ``servlet`` and ``method`` plus its own parameters (no credentials).

    ``subject`` names the record the call is about (``cons_id=1001172``) for error messages.
    """

    servlet: str
    method: str
    params: tuple[tuple[str, str], ...] = ()
    subject: str = ""

    def __post_init__(self) -> None:
        clash = _RESERVED.intersection(name for name, _ in self.params)
        if clash:
            raise ValueError(
                f"{self.method}: {', '.join(sorted(clash))} is set by the client and cannot be passed"
            )


@dataclass(frozen=True)
class Pause:
    seconds: float


Plan = Generator[Call | Pause, Any, Any]


class FormEncoder:
    """Builds one site's POST bodies: credentials and protocol parameters first, then the call's own.

    The site's own part is the same in every request, so it is encoded once here, not per call.
    """

    def __init__(self, site: SiteConfig) -> None:
        credentials = site.credentials
        fixed = [
            ("v", API_VERSION),
            ("api_key", credentials.api_key),
            ("login_name", credentials.login_name),
            ("login_password", credentials.login_password),
            ("response_format", "json"),
        ]
        if site.suppress_response_codes:
            fixed.append(("suppress_response_codes", "true"))
        self._fixed = "&" + urlencode(fixed)
        # The site's center_id is a default: a call that passes its own keeps that one.
        self._center = "&" + urlencode([("center_id", site.center_id)]) if site.center_id else ""

    def __call__(self, call: Call) -> bytes:
        parts = [urlencode([("method", call.method)]), self._fixed]
        if self._center and not any(name == "center_id" for name, _ in call.params):
            parts.append(self._center)
        if call.params:
            parts.append("&" + urlencode(call.params))
        return "".join(parts).encode("utf-8")


def _decode(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _describe_body(body: bytes) -> str:
    head = body.lstrip()[:1]
    if not body.strip():
        return "an empty body"
    if head == b"<":
        return "an HTML or XML page instead of JSON"
    return "a body that is not valid JSON"


def parse_reply(call: Call, status: int, body: bytes, redact: Callable[[str], str]) -> dict[str, Any]:
    """The payload of a reply (the object under its single root key), or the typed error it carries.

    An ``errorResponse`` is an error whatever the HTTP status (403 normally, 200 when the site
    suppresses response codes). ``redact`` scrubs Luminate's message, which is echoed into exceptions.
    """
    data = _decode(body)
    where = f"{call.servlet} {call.method}"
    if data is not None and "errorResponse" in data:
        error = data["errorResponse"] if isinstance(data["errorResponse"], dict) else {}
        try:
            code = integer(error.get("code"))
        except (TypeError, ValueError):
            code = None
        raw_message = error.get("message")
        message = None if isinstance(raw_message, list | dict) else text(raw_message)
        raise error_for_code(
            code,
            redact(message) if message else None,
            method=call.method,
            http_status=status,
            subject=call.subject,
        )
    if status == 405:
        raise RunLevelError(
            f"Luminate answered HTTP 405 (Bad Method) to {where}: the request did not arrive as a POST; "
            "check the integration's Luminate host (a proxy or redirect may be turning POST into GET)",
            method=call.method,
            http_status=status,
        )
    if status in (401, 404) or 300 <= status < 400:
        raise RunLevelError(
            f"Luminate answered HTTP {status} to {where}: check the integration's Luminate host and "
            "organization short name",
            method=call.method,
            http_status=status,
        )
    if data is None or status != 200:
        what = f"HTTP {status} with {_describe_body(body)}" if data is None else f"HTTP {status}"
        raise TransientError(f"Luminate answered {what} to {where}", method=call.method, http_status=status)
    if len(data) != 1:
        raise TransientError(
            f"Luminate answered {where} with {len(data)} root keys instead of one",
            method=call.method,
            http_status=status,
        )
    payload = next(iter(data.values()))
    if isinstance(payload, dict):
        return payload
    return {} if payload is None else {"value": payload}


def transport_error(call: Call, exc: httpx.HTTPError, redact: Callable[[str], str]) -> LuminateError:
    """The typed error for a failure below HTTP (timeouts, refused or reset connections, TLS)."""
    where = f"{call.servlet} {call.method}"
    detail = redact(str(exc)) or type(exc).__name__
    if caused_by_certificate(exc):
        return RunLevelError(
            f"The Luminate host's TLS certificate was refused for {where} ({detail}): check the integration's "
            "Luminate host",
            method=call.method,
        )
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(
            f"Luminate did not answer {where} in time ({type(exc).__name__})", method=call.method
        )
    return TransientError(
        f"The connection to Luminate failed during {where} ({type(exc).__name__}: {detail})",
        method=call.method,
    )


def caused_by_certificate(exc: BaseException) -> bool:
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


class RateLimiter:
    """Spaces requests evenly at ``rate`` per second (``None``: no limit); safe across threads.

    :meth:`reserve` books the next free slot and returns how long to wait for it, so the sync and
    async clients share it and each sleeps its own way. A fleet-wide limiter only has to offer the same
    ``reserve()``.
    """

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        if self.rate is None:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + 1.0 / self.rate
            return slot - now


def attempts(
    call: Call, policy: RetryPolicy, rng: random.Random
) -> Generator[Call | Pause, Any, dict[str, Any]]:
    """Plan step: send ``call``, retrying transient errors with capped exponential backoff and full jitter."""
    attempt = 1
    while True:
        try:
            return (yield call)
        except TransientError as exc:
            if attempt >= policy.max_attempts:
                exc.add_note(f"gave up after {attempt} attempt(s)")
                raise
            delay = policy.delay(attempt, rng)
            log.warning(
                "%s %s failed (%s); retrying in %.2f s (attempt %d of %d)",
                call.servlet,
                call.method,
                exc,
                delay,
                attempt + 1,
                policy.max_attempts,
            )
            yield Pause(delay)
            attempt += 1
