"""The two clients: :class:`LuminateClient` (one call at a time) and :class:`AsyncLuminateClient`
(many constituents at once through :meth:`AsyncLuminateClient.get_users`).

Both run the same plans from :mod:`lumisync.luminate.api` over pooled keep-alive connections; they
differ only in how they send bytes and how they sleep.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from lumisync.luminate.api import Endpoints, cons_id_param
from lumisync.luminate.config import SiteConfig
from lumisync.luminate.errors import InvalidInput, LuminateError, RecordLevelError, TransientError
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
    """Mixed into httpx's clients so that they keep no cookies: every call carries its credentials and
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


class _StatelessAsyncClient(_Stateless, httpx.AsyncClient):
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
        # Parsed once per servlet, so httpx does not parse the same URL string for every request.
        self._urls: dict[str, httpx.URL] = {}

    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.site.connect_timeout,
            read=self.site.read_timeout,
            write=self.site.read_timeout,
            # A wait for a pooled connection never lasts long unless the pool is stuck: then it is an error.
            pool=self.site.connect_timeout,
        )

    def _request(self, call: Call) -> tuple[httpx.URL, bytes]:
        log.debug("POST %s %s %s", call.servlet, call.method, call.subject)
        url = self._urls.get(call.servlet)
        if url is None:
            url = self._urls[call.servlet] = httpx.URL(self.site.servlet_url(call.servlet))
        return url, self._encode(call)

    def _reply(self, call: Call, response: httpx.Response) -> dict[str, Any]:
        return parse_reply(call, response.status_code, response.content, self.site.credentials.redact)

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
        return self._reply(call, response)

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

    def __init__(self, site: SiteConfig, **kwargs: Any) -> None:
        super().__init__(site, **kwargs)
        self._lanes = _Lanes(site.concurrency, self._timeout())

    async def _exchange(self, call: Call) -> dict[str, Any]:
        wait = self.limiter.reserve()
        if wait > 0:
            await asyncio.sleep(wait)
        url, body = self._request(call)
        try:
            response = await self._lanes.post(url, body)
        except httpx.HTTPError as exc:
            raise transport_error(call, exc, self.site.credentials.redact) from None
        return self._reply(call, response)

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
        client's connections), paced by the site's rate limit; ``ids`` is read lazily, so memory stays flat
        however many there are. A record-level or
        exhausted transient error is yielded for its id and the stream goes on; a :class:`RunLevelError`
        cancels what is in flight and is raised. Results come in completion order, not input order.
        Close the iterator early with ``contextlib.aclosing`` to cancel outstanding requests at once.
        """
        width = concurrency or self.site.concurrency
        if width < 1:
            raise ValueError(f"get_users: concurrency must be at least 1, not {width!r}")
        wanted = list(fields) if fields else None
        source = _aiter(ids)
        pending: set[asyncio.Task[UserResult]] = set()
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < width:
                    try:
                        raw = await anext(source)
                    except StopAsyncIteration:
                        exhausted = True
                        break
                    pending.add(asyncio.ensure_future(self._one(raw, wanted)))
                if not pending:
                    return
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                # Read every finished task's outcome before raising, so none is left unretrieved.
                failures = [exc for exc in (task.exception() for task in done) if exc is not None]
                if failures:
                    raise failures[0]
                for task in done:
                    yield task.result()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

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
        await self._lanes.aclose()

    async def __aenter__(self) -> AsyncLuminateClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _Lanes:
    """Up to ``size`` keep-alive connections, each in an HTTP client of its own, one exchange at a time.

    One pooled client with ``size`` connections would do the same, but httpx's pool probes every one of
    its connections (a socket check each) for every request, so the client's CPU per request grew with
    the pool; a lane's pool holds one connection, so that check stays at one. The semaphore keeps the
    site's bound on connections and requests in flight, whoever sends them. A lane whose connection broke
    simply reconnects on its next request. A lane whose request was cancelled is closed and replaced:
    httpcore can leave a request cancelled while its connection was being set up counted in the pool for
    good, and with one connection per lane every later request on it would wait for that slot.
    """

    def __init__(self, size: int, timeout: httpx.Timeout) -> None:
        self._slots = asyncio.Semaphore(size)
        self._timeout = timeout
        # Loading the CA bundle costs tens of milliseconds, so every lane shares one context.
        self._ssl = httpx.create_ssl_context()
        self._idle: list[httpx.AsyncClient] = []
        self._every: list[httpx.AsyncClient] = []
        self._closed = False

    async def post(self, url: httpx.URL, body: bytes) -> httpx.Response:
        async with self._slots:
            if self._closed:
                raise RuntimeError("the Luminate client is closed")
            # Last in, first out: a light load keeps reusing the same warm connections.
            lane = self._idle.pop() if self._idle else self._open()
            try:
                response = await lane.post(url, content=body, headers=_HEADERS)
            except (asyncio.CancelledError, httpx.PoolTimeout):
                self._every.remove(lane)
                # Closed before the slot is given back, so the site's bound on connections holds.
                await asyncio.shield(lane.aclose())
                raise
            except BaseException:
                self._idle.append(lane)
                raise
            self._idle.append(lane)
            return response

    def _open(self) -> httpx.AsyncClient:
        lane = _StatelessAsyncClient(
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            follow_redirects=False,
            verify=self._ssl,
        )
        self._every.append(lane)
        return lane

    async def aclose(self) -> None:
        self._closed = True
        for lane in self._every:
            await lane.aclose()


async def _aiter(ids: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(ids, AsyncIterable):
        async for item in ids:
            yield item
    else:
        iterator: Iterator[Any] = iter(ids)
        for item in iterator:
            yield item
