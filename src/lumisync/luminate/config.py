"""Where a Luminate Online site lives, how to log in to it, and how hard the client may push it."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

from lumisync.luminate.egress import check_host

REDACTED = "***"


@dataclass(frozen=True)
class Credentials:
    """The API key and the API administrator's login.

    The key and the password never leave this object except in a request body: ``repr`` and
    ``str`` mask them, and :meth:`redact` scrubs them from any text bound for a log or an exception.
    """

    api_key: str = field(repr=False)
    login_name: str
    login_password: str = field(repr=False)

    def __repr__(self) -> str:
        return (
            f"Credentials(api_key={REDACTED!r}, login_name={self.login_name!r}, login_password={REDACTED!r})"
        )

    __str__ = __repr__

    def redact(self, text: str) -> str:
        """Return ``text`` with the key and password, raw or URL-encoded, replaced by ``***``."""
        for secret in (self.login_password, self.api_key):
            if not secret:
                continue
            for form in {secret, quote_plus(secret), quote(secret, safe="")}:
                text = text.replace(form, REDACTED)
        return text


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter for transient failures.

    Attempt ``n`` (1-based) that fails is followed by a pause drawn uniformly from
    ``[0, min(cap, base * 2**(n-1))]``; after ``max_attempts`` attempts the error is raised.
    """

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 20.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be at least 1, not {self.max_attempts!r}")
        if self.base < 0 or self.cap < 0:
            raise ValueError(
                f"RetryPolicy.base and cap must not be negative (base={self.base!r}, cap={self.cap!r})"
            )

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class SiteConfig:
    """One Luminate Online site as the client reaches it.

    ``org`` is the organization short name; leave it empty for a custom secure domain, whose URLs have
    no short name (``https://secure.example.org/site/SRConsAPI``). ``allow_http`` permits plain HTTP
    and ``allow_private`` private or loopback hosts: both exist for the simulator on 127.0.0.1 and stay
    off for a real site. ``suppress_response_codes`` asks Luminate to answer errors with HTTP 200
    (the client reads errors from the body either way). ``rate`` is requests per second for the whole site (``None``: unlimited);
    ``concurrency`` is the number of requests in flight in :meth:`AsyncLuminateClient.get_users`.
    """

    host: str
    credentials: Credentials
    org: str | None = None
    allow_http: bool = False
    allow_private: bool = False
    center_id: str | None = None
    suppress_response_codes: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    concurrency: int = 8
    rate: float | None = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        # Names are resolved (and checked again) when a client is built, not on every config object.
        object.__setattr__(
            self, "host", check_host(self.host, allow_private=self.allow_private, resolve=False)
        )
        org = (self.org or "").strip().strip("/")
        if org and not re.fullmatch(r"[A-Za-z0-9_-]+", org):
            raise ValueError(
                f"SiteConfig.org {self.org!r} is not an organization short name (letters, digits, '-' and '_')"
            )
        object.__setattr__(self, "org", org or None)
        if self.concurrency < 1:
            raise ValueError(f"SiteConfig.concurrency must be at least 1, not {self.concurrency!r}")
        if self.rate is not None and self.rate <= 0:
            raise ValueError(f"SiteConfig.rate must be positive or None (unlimited), not {self.rate!r}")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError(
                f"SiteConfig timeouts must be positive (connect={self.connect_timeout!r}, read={self.read_timeout!r})"
            )

    def check_egress(self) -> None:
        """Refuse the host if its name resolves to a private address the operator has not allowed."""
        check_host(self.host, allow_private=self.allow_private)

    @property
    def base_url(self) -> str:
        scheme = "http" if self.allow_http else "https"
        prefix = f"/{self.org}" if self.org else ""
        return f"{scheme}://{self.host}{prefix}/site/"

    def servlet_url(self, servlet: str) -> str:
        return self.base_url + servlet
