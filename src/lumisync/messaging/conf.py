"""Messaging settings with their defaults, read at use so tests and operators can change them."""

from __future__ import annotations

from django.conf import settings


def timeout_seconds() -> float:
    """How long one provider request may take before it counts as a transient failure."""
    return float(getattr(settings, "LUMISYNC_SMS_TIMEOUT_SECONDS", 10.0))


def max_attempts() -> int:
    """Delivery attempts before a message that keeps failing transiently is given up."""
    return int(getattr(settings, "LUMISYNC_SMS_MAX_ATTEMPTS", 5))


def public_url() -> str:
    """The address the provider reaches this site at (``https://sms.example.org``), or "" when unknown.

    Status callbacks are only requested when it is set, since the provider cannot reach a guessed host.
    """
    return str(getattr(settings, "LUMISYNC_PUBLIC_URL", "")).rstrip("/")
