"""Luminate clients that keep to the integration's requests-per-second budget together.

The rate an Administrator sets is for the whole Luminate site, but in one process several clients may
talk to it at once: the nightly run, an outbound run, Test Connection, Try one constituent. Every client
this app builds for a site therefore books its requests on one limiter per site and rate. Separate
processes (a `lumisync sync` command beside `lumisync serve`) each keep their own.
"""

from __future__ import annotations

import threading

from lumisync.luminate import AsyncLuminateClient, LuminateClient, SiteConfig
from lumisync.luminate.protocol import RateLimiter

_limiters: dict[tuple[str, str, float | None], RateLimiter] = {}
_limiters_lock = threading.Lock()


def site_limiter(site: SiteConfig) -> RateLimiter:
    """The limiter every client of ``site`` in this process shares (a new rate starts a new budget)."""
    key = (site.host.lower(), site.org or "", site.rate)
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = RateLimiter(site.rate)
        return limiter


def luminate_client(site: SiteConfig) -> LuminateClient:
    return LuminateClient(site, rate_limiter=site_limiter(site))


def async_luminate_client(site: SiteConfig) -> AsyncLuminateClient:
    return AsyncLuminateClient(site, rate_limiter=site_limiter(site))
