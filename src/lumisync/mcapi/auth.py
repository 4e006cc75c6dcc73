"""Who is calling the API: an API key (Bearer) or an API user's e-mail and password (HTTP Basic).

Browser sessions are never consulted, so a signed-in administrator's cookie cannot drive the API.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from lumisync.accounts import throttling
from lumisync.accounts.models import Organization
from lumisync.mcapi import ratelimit
from lumisync.mcapi.errors import HttpProblem
from lumisync.mcapi.models import ApiKey, digest_token

REALM = 'Basic realm="lumisync API"'
VERIFIED_PASSWORD_SECONDS = 300


@dataclass(frozen=True)
class Caller:
    organization: Organization
    actor: str
    bucket: str


def _unauthorized(message: str) -> HttpProblem:
    return HttpProblem(401, "Unauthorized", message, {"WWW-Authenticate": REALM})


def _matches_company(organization: Organization, company: str) -> bool:
    return company in (organization.slug, str(organization.pk))


def _by_key(token: str, company: str) -> Caller:
    key = ApiKey.objects.select_related("organization").filter(digest=digest_token(token)).first()
    if key is None or not key.is_active:
        raise _unauthorized("The API key is unknown or has been revoked.")
    if company and not _matches_company(key.organization, company):
        raise _unauthorized(f"This API key does not belong to company {company!r}.")
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return Caller(key.organization, f"API key {key.prefix}… ({key.name})", f"api:key:{key.pk}")


def _verified_key(user, password: str) -> str:
    """A cache key for "``password`` is ``user``'s": a keyed digest, so the cache never holds the password.

    The stored password hash is part of it, so a password change makes every key of the old one useless.
    """
    digest = salted_hmac("lumisync.mcapi.basic", f"{user.pk}:{user.password}:{password}").hexdigest()
    return f"mcapi:basic:{digest}"


def _password_matches(user, password: str) -> bool:
    # The password hasher is slow on purpose (about 0.3 s of CPU); a client paging through profiles sends
    # the same password on every call, so a verified one is remembered for a few minutes.
    if cache.get(_verified_key(user, password)):
        return True
    if not user.check_password(password):
        return False
    # Read the key again: check_password may have upgraded the stored hash.
    cache.set(_verified_key(user, password), True, VERIFIED_PASSWORD_SECONDS)
    return True


def _by_password(request, login: str, password: str, company: str) -> Caller:
    address = throttling.client_address(request)
    if throttling.cooling_off_until(login, address):
        raise HttpProblem(429, "Too Many Requests", "Too many failed sign-ins; try again later.")
    users = get_user_model().objects.filter(Q(email__iexact=login) | Q(username=login), is_active=True)
    user = next((candidate for candidate in users if _password_matches(candidate, password)), None)
    if user is None:
        throttling.record_failure(login, address)
        raise _unauthorized("The e-mail address or password is wrong.")
    memberships = list(user.memberships.select_related("organization").order_by("organization__slug"))
    if company:
        memberships = [m for m in memberships if _matches_company(m.organization, company)]
        if not memberships:
            raise _unauthorized(f"This user does not belong to company {company!r}.")
    if not memberships:
        raise _unauthorized("This user does not belong to any organization.")
    if len(memberships) > 1:
        slugs = ", ".join(m.organization.slug for m in memberships)
        raise _unauthorized(f"This user belongs to several organizations: pass company (one of {slugs}).")
    organization = memberships[0].organization
    return Caller(organization, f"API user {user.get_username()}", f"api:user:{user.pk}:{organization.pk}")


def authenticate(request, company: str) -> Caller:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return _by_key(credentials, company)
    if scheme.lower() == "basic" and credentials:
        try:
            login, _, password = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized("The Basic credentials are not base64 of “email:password”.") from None
        return _by_password(request, login, password, company)
    raise _unauthorized("Send an API key (Authorization: Bearer …) or an API user's e-mail and password.")


def check_rate(caller: Caller) -> None:
    ratelimit.enforce(
        caller.bucket,
        per_minute=getattr(settings, "LUMISYNC_API_RATE_PER_MINUTE", 600),
        burst=getattr(settings, "LUMISYNC_API_BURST", 120),
        refusal="The rate limit of this API client was reached; retry in {wait} s.",
    )
