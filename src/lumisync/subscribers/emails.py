"""Email addresses: the one form a profile keeps. Plain Python over Django's validator, with no models, so
that the sync can read addresses in a worker process of its own."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email


def normalize_email(raw: str) -> str:
    """Strip ``raw`` and lowercase its domain (the local part may be case-sensitive); "" stays "".

    Raises:
        ValueError: a non-empty value that is not an email address; the message quotes it.
    """
    value = (raw or "").strip()
    if not value:
        return ""
    local, _, domain = value.rpartition("@")
    value = f"{local}@{domain.lower()}"
    try:
        validate_email(value)
    except ValidationError:
        raise ValueError(f"{raw!r} is not a valid email address.") from None
    return value
