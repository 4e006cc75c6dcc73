"""The two clients: :class:`LuminateClient` (one call at a time) and :class:`AsyncLuminateClient`
(many constituents at once through :meth:`AsyncLuminateClient.get_users`).

Both run the same plans from :mod:`lumisync.luminate.api` over pooled keep-alive connections; they
differ only in how they send bytes and how they sleep.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
import time
import urllib.request
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import yarl

from lumisync.luminate.api import Endpoints, cons_id_param
from lumisync.luminate.config import SiteConfig
from lumisync.luminate.errors import (
    InvalidInput,
    LuminateError,
    RecordLevelError,
    RunLevelError,
    TransientError,
)
from lumisync.luminate.protocol import (
    FORM_CONTENT_TYPE,
    Call,
    FormEncoder,
    Pause,
    Plan,
    RateLimiter,
    parse_reply,
    transport_error,
)

log = logging.getLogger("lumisync.luminate")

_HEADERS = {"Content-Type": FORM_CONTENT_TYPE, "Accept": "application/json"}


class _NoCookies(httpx.Cookies):
    """A cookie store that keeps nothing a response sets."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


class _Stateless:
    """Mixed into httpx's client so that it keeps no cookies: every call carries its credentials and
    Luminate keeps no login state between calls (luminate-api.md, Credentials), so a session cookie would
    only let a later call authenticate by the session instead of by what it sends. Reading each response's
    cookies was also about 7% of the client's CPU per request."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        """Cookies given to the client are refused like those a response sets."""


class _StatelessClient(_Stateless, httpx.Client):
    pass


@dataclass(frozen=True)
class UserResult:
    """One constituent from :meth:`AsyncLuminateClient.get_users`: its record, or why there is none.

    ``error`` is a :class:`RecordLevelError` (not found, malformed ...) or a :class:`TransientError`
    that outlasted its retries; exactly one of ``record`` and ``error`` is set.
    """

    cons_id: str
    record: dict[str, Any] | None = None
    error: RecordLevelError | TransientError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _Base(Endpoints):
    def __init__(
        self,
        site: SiteConfig,
        *,
        rate_limiter: RateLimiter | None = None,
        rng: random.Random | None = None,
    ) -> None:
        site.check_egress()
        self.site = site
        self.limiter = rate_limiter or RateLimiter(site.rate)
        self._rng = rng or random.Random()
        self.field_types = None
        self._encode = FormEncoder(site)
        # Parsed once per servlet, so the HTTP library does not parse the same URL string for every request.
        self._urls: dict[str, Any] = {}

    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.site.connect_timeout,
            read=self.site.read_timeout,
            write=self.site.read_timeout,
            # A wait for a pooled connection never lasts long unless the pool is stuck: then it is an error.
            pool=self.site.connect_timeout,
        )

    # The URL type of the client's HTTP library.
    _url_type: Any = httpx.URL

    def _request(self, call: Call) -> tuple[Any, bytes]:
        log.debug("POST %s %s %s", call.servlet, call.method, call.subject)
        url = self._urls.get(call.servlet)
        if url is None:
            url = self._urls[call.servlet] = self._url_type(self.site.servlet_url(call.servlet))
        return url, self._encode(call)

    def _reply(self, call: Call, status: int, content: bytes) -> dict[str, Any]:
        return parse_reply(call, status, content, self.site.credentials.redact)

    def use_field_types(self, fields: Iterable[Any]) -> None:
        """Read constituents with the value types listUserFields reported (``fields`` from it)."""
        self.field_types = {field.name: field.value_type for field in fields if field.value_type}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.site.base_url!r}, login_name={self.site.credentials.login_name!r})"
        )


class LuminateClient(_Base):
    """Synchronous client for single calls; use as a context manager, or call :meth:`close`."""

    def __init__(self, site: SiteConfig, **kwargs: Any) -> None:
        super().__init__(site, **kwargs)
        limits = httpx.Limits(max_connections=site.concurrency, max_keepalive_connections=site.concurrency)
        self._http = _StatelessClient(timeout=self._timeout(), limits=limits, follow_redirects=False)

    def _exchange(self, call: Call) -> dict[str, Any]:
        wait = self.limiter.reserve()
        if wait > 0:
            time.sleep(wait)
        url, body = self._request(call)
        try:
            response = self._http.post(url, content=body, headers=_HEADERS)
        except httpx.HTTPError as exc:
            raise transport_error(call, exc, self.site.credentials.redact) from None
        return self._reply(call, response.status_code, response.content)

    def _run(self, plan: Plan) -> Any:
        try:
            step = next(plan)
            while True:
                if isinstance(step, Pause):
                    time.sleep(step.seconds)
                    step = plan.send(None)
                    continue
                try:
                    reply = self._exchange(step)
                except LuminateError as exc:
                    step = plan.throw(exc)
                else:
                    step = plan.send(reply)
        except StopIteration as done:
            return done.value

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LuminateClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncLuminateClient(_Base):
    """Asynchronous client: every API method returns an awaitable; :meth:`get_users` streams many records."""

    _url_type = yarl.URL

    def __init__(self, site: SiteConfig, **kwargs: Any) -> None:
        super().__init__(site, **kwargs)
        self._connections = _Connections(site.concurrency, self._timeout(), yarl.URL(site.base_url))

    async def _exchange(self, call: Call) -> dict[str, Any]:
        wait = self.limiter.reserve()
        if wait > 0:
            await asyncio.sleep(wait)
        url, body = self._request(call)
        if self._connections.proxy_problem:
            raise RunLevelError(self._connections.proxy_problem, method=call.method)
        try:
            status, content = await self._connections.post(url, body)
        except httpx.HTTPError as exc:
            raise transport_error(call, exc, self.site.credentials.redact) from None
        return self._reply(call, status, content)

    async def _drive(self, plan: Plan) -> Any:
        try:
            step = next(plan)
            while True:
                if isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                    step = plan.send(None)
                    continue
                try:
                    reply = await self._exchange(step)
                except LuminateError as exc:
                    step = plan.throw(exc)
                else:
                    step = plan.send(reply)
        except StopIteration as done:
            return done.value

    def _run(self, plan: Plan) -> Any:
        return self._drive(plan)

    async def get_users(
        self,
        ids: Iterable[str | int] | AsyncIterable[str | int],
        *,
        fields: Iterable[str] | None = None,
        concurrency: int | None = None,
    ) -> AsyncIterator[UserResult]:
        """getUser for every id in ``ids``, yielding a :class:`UserResult` per id as replies arrive.

        At most ``concurrency`` requests are in flight (default and ceiling: the site's, which bounds the
        client's connections), paced by the site's rate limit; ``ids`` is read lazily, at most twice
        ``concurrency`` ahead of the results taken (those in flight, and as many answered but not yet
        taken), so memory stays flat however many there are. A record-level or exhausted transient error
        is yielded for its id and the stream goes on; a :class:`RunLevelError` cancels what is in flight
        and is raised. Results come in completion order, not input order.
        Close the iterator early with ``contextlib.aclosing`` to cancel outstanding requests at once.
        """
        width = concurrency or self.site.concurrency
        if width < 1:
            raise ValueError(f"get_users: concurrency must be at least 1, not {width!r}")
        wanted = list(fields) if fields else None
        source = _aiter(ids)
        # Each worker sends its next request as soon as its reply is read, whatever the consumer is doing
        # with earlier results: sending only when the consumer came back for more kept replies that
        # arrived together sending together, and each round waited for the slowest of them.
        results: asyncio.Queue[UserResult | BaseException | None] = asyncio.Queue(maxsize=width)

        # An async generator must not be advanced by two workers at once.
        taking = asyncio.Lock()

        async def worker() -> None:
            try:
                while True:
                    async with taking:
                        raw = await anext(source, _END)
                    if raw is _END:
                        break
                    await results.put(await self._one(raw, wanted))
            except Exception as exc:
                await results.put(exc)
            else:
                await results.put(None)

        workers = [asyncio.ensure_future(worker()) for _ in range(width)]
        running = width
        try:
            while running:
                result = await results.get()
                if result is None:
                    running -= 1
                elif isinstance(result, BaseException):
                    raise result
                else:
                    yield result
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _one(self, raw: Any, fields: list[str] | None) -> UserResult:
        try:
            cons_id = cons_id_param(raw, method="getUser")
        except InvalidInput as exc:
            return UserResult(cons_id=str(raw), error=exc)
        try:
            record = await self.get_user(cons_id=cons_id, fields=fields)
        except (RecordLevelError, TransientError) as exc:
            return UserResult(cons_id=cons_id, error=exc)
        return UserResult(cons_id=cons_id, record=record)

    async def aclose(self) -> None:
        await self._connections.aclose()

    async def __aenter__(self) -> AsyncLuminateClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _Connections:
    """Up to ``size`` keep-alive connections for the async client, through aiohttp.

    The async client is the inbound sync's hot path: httpx spends about 0.7 ms of CPU per request here,
    enough to leave 16 connections at 50 ms latency well short of their ideal rate, where aiohttp, with
    its compiled HTTP parser, spends about 0.2 ms (docs/benchmarks.md). Its failures are raised as the
    httpx errors the synchronous client meets, so both clients classify them in one place
    (``protocol.transport_error``). The semaphore keeps the site's bound on requests in flight, whoever
    sends them, so a request never waits on the pool itself; a cancelled request's connection is closed by
    aiohttp and the next request opens another. Like the synchronous client (httpx's default), it sends
    through the proxy the environment names for the site (see :func:`_environment_proxy`).
    """

    def __init__(self, size: int, timeout: httpx.Timeout, site_url: yarl.URL) -> None:
        self._size = size
        self._slots = asyncio.Semaphore(size)
        # ``connect`` bounds the name lookup too, which ``sock_connect`` alone leaves unbounded (httpx counts
        # it in its connect timeout); requests never wait for the pool, the semaphore sees to that.
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout.connect, sock_connect=timeout.connect, sock_read=timeout.read
        )
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        # Looked up once: aiohttp trusting the environment would look it up for every request.
        self._proxy: yarl.URL | None = None
        self._proxy_headers: dict[str, str] | None = None
        self.proxy_problem: str | None = None
        try:
            self._proxy, self._proxy_headers = _environment_proxy(site_url)
        except ValueError as exc:
            self.proxy_problem = str(exc)

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use, inside the event loop that will run it.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._size, ssl=_ssl_context()),
                timeout=self._timeout,
                # No cookies, for the reason _Stateless gives.
                cookie_jar=aiohttp.DummyCookieJar(),
                # aiohttp trusting the environment would look its proxy up on a worker thread for every
                # request, which tripled the client's CPU: the proxy is looked up once, in __init__.
                trust_env=False,
            )
        return self._session

    async def post(self, url: yarl.URL, body: bytes) -> tuple[int, bytes]:
        async with self._slots:
            if self._closed:
                raise RuntimeError("the Luminate client is closed")
            try:
                async with self._open().post(
                    url,
                    data=body,
                    headers=_HEADERS,
                    allow_redirects=False,
                    proxy=self._proxy,
                    proxy_headers=self._proxy_headers,
                ) as response:
                    return response.status, await response.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise _as_httpx_error(exc) from exc

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()


def _environment_proxy(url: yarl.URL) -> tuple[yarl.URL | None, dict[str, str] | None]:
    """The proxy the environment names for ``url``, read as httpx (the synchronous client) reads it:
    ``HTTPS_PROXY`` or ``HTTP_PROXY`` by the URL's scheme, else ``ALL_PROXY``; none when ``NO_PROXY``
    covers the host. Returns the proxy without its user and password, and the header that carries them.

    Raises:
        ValueError: the setting is not a URL, or names a proxy aiohttp cannot reach (not ``http://``);
            the message names the variable but never its value, which may hold a password.
    """
    proxies = urllib.request.getproxies_environment()
    if url.host and urllib.request.proxy_bypass_environment(url.host, proxies):
        return None, None
    name = url.scheme if proxies.get(url.scheme) else "all"
    value = proxies.get(name)
    if not value:
        return None, None
    variable = f"{name.upper()}_PROXY"
    try:
        proxy = yarl.URL(value if "://" in value else f"http://{value}")
    except ValueError:
        raise ValueError(f"The proxy in the environment variable {variable} is not a URL.") from None
    if proxy.scheme != "http" or not proxy.host:
        raise ValueError(
            f"The proxy in the environment variable {variable} is not an http:// proxy with a host: the "
            "constituent reads can only go through an http:// proxy (an HTTPS site's traffic stays "
            "encrypted through it)."
        )
    if proxy.user is None:
        return proxy, None
    credentials = aiohttp.BasicAuth(proxy.user, proxy.password or "")
    return proxy.with_user(None), {"Proxy-Authorization": credentials.encode()}


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs tens of milliseconds, so it is loaded once per process.
    return httpx.create_ssl_context()


def _as_httpx_error(exc: BaseException) -> httpx.TransportError:
    """The httpx error an aiohttp failure amounts to. Raised from the aiohttp error, whose chain holds a
    refused certificate's ``ssl`` error for ``protocol.caused_by_certificate``."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(exc, TimeoutError):
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.ClientOSError):
        return httpx.ReadError(message)
    return httpx.RemoteProtocolError(message)


_END = object()


async def _aiter(ids: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(ids, AsyncIterable):
        async for item in ids:
            yield item
    else:
        iterator: Iterator[Any] = iter(ids)
        for item in iterator:
            yield item
