"""The provider's request signature (``X-Twilio-Signature``) on webhooks it sends us."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Base64 HMAC-SHA1, keyed with the auth token, of the full URL followed by each POST parameter's
    name and value, sorted by name and then value; a repeated name-value pair counts once, as the provider
    computes it."""
    payload = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_is_valid(
    auth_token: str, urls: Iterable[str], params: Iterable[tuple[str, str]], signature: str
) -> bool:
    """True when ``signature`` matches for one of ``urls`` (the address as the provider knew it)."""
    if not auth_token or not signature:
        return False
    params = list(params)
    return any(
        hmac.compare_digest(compute_signature(auth_token, url, params).encode(), signature.encode())
        for url in urls
    )
