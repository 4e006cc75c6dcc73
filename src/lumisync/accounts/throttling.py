"""Sign-in throttling: a cool-off after repeated failures, never a permanent lock-out.

When ``LUMISYNC_LOGIN_MAX_FAILURES`` failures for one username, or from one client address, fall within
``LUMISYNC_LOGIN_COOLOFF_SECONDS``, sign-in is refused (even with the right password) until that long
after the latest of them. Refused attempts are not counted, so waiting out the cool-off always works.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Q
from django.utils import timezone

from lumisync.accounts.models import LoginAttempt

USERNAME_LENGTH = LoginAttempt._meta.get_field("username").max_length


def normalise_username(username: str) -> str:
    return (username or "").strip().casefold()[:USERNAME_LENGTH]


def client_address(request) -> str | None:
    """The client's IP address.

    Behind ``LUMISYNC_TRUSTED_PROXY_COUNT`` reverse proxies the address is read from X-Forwarded-For,
    counting that many hops from the right, since every request would otherwise share the proxy's
    address and one person's typos would cool off everyone.
    """
    address = request.META.get("REMOTE_ADDR", "")
    proxies = getattr(settings, "LUMISYNC_TRUSTED_PROXY_COUNT", 0)
    if proxies:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies:
            address = hops[-proxies]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def _window() -> timedelta:
    return timedelta(seconds=settings.LUMISYNC_LOGIN_COOLOFF_SECONDS)


def cooling_off_until(username: str, address: str | None) -> datetime | None:
    """When sign-in for this username or address opens again, or None when it is open now."""
    recent = LoginAttempt.objects.filter(attempted_at__gt=timezone.now() - _window())
    keys = [Q(username=normalise_username(username))]
    if address:
        keys.append(Q(address=address))
    latest = None
    for key in keys:
        failures = recent.filter(key).aggregate(count=Count("id"), latest=Max("attempted_at"))
        if failures["count"] >= settings.LUMISYNC_LOGIN_MAX_FAILURES and (
            latest is None or failures["latest"] > latest
        ):
            latest = failures["latest"]
    return latest + _window() if latest else None


def record_failure(username: str, address: str | None) -> None:
    now = timezone.now()
    LoginAttempt.objects.filter(attempted_at__lte=now - _window()).delete()
    LoginAttempt.objects.create(username=normalise_username(username), address=address, attempted_at=now)


def clear_failures(username: str) -> None:
    """Forget the username's failures after a successful sign-in; the address's stay counted."""
    LoginAttempt.objects.filter(username=normalise_username(username)).delete()
