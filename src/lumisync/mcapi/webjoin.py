"""The public web opt-in (``/profiles/join``) and the donation snippet's gift report (``/profiles/donation``).

Both are posted by browsers from the organization's own pages, so they authenticate nothing: an opt-in
path key (or id) or the snippet key names the organization, and the consent rules of
:mod:`lumisync.subscribers.services` decide what a post may do (a number that opted out only gets a
confirmation prompt; a friend always has to reply YES).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Q
from django.http import QueryDict

from lumisync.accounts.models import Organization
from lumisync.mcapi import services
from lumisync.mcapi.errors import (
    INVALID_OPT_IN_PATH,
    INVALID_PARAMETER,
    MISSING_PARAMETER,
    ApiError,
    HttpProblem,
)
from lumisync.mcapi.models import DonationFormSnippet, WebSettings
from lumisync.mcapi.params import Params, phone_or_error
from lumisync.subscribers import services as subscribers
from lumisync.subscribers.models import Channel, OptInPath

PERSON_FIELD = re.compile(r"^person\[([^\]]+)\]$")
BILLING_FIELD = re.compile(r"^billing\[([^\]]+)\]$")
HONEYPOT = "website"
MAX_FRIENDS = 10
MAX_WORDING = 2000


@dataclass
class JoinResult:
    """What a join may tell the public: where to go next. Nothing here depends on what the person's
    number or a friend's was before (subscribed, waiting or opted out): anyone may post a join."""

    organization: Organization
    redirect_to: str = ""


def path_references(data: QueryDict, name: str) -> list[str]:
    return [ref.strip() for ref in data.getlist(f"{name}[]") + data.getlist(name) if ref.strip()]


def organization_of_path(reference: str) -> OptInPath:
    lookup = Q(pk=int(reference)) if reference.isdigit() else Q(public_key=reference)
    path = OptInPath.objects.select_related("campaign", "organization").filter(lookup).first()
    if path is None:
        raise ApiError(INVALID_OPT_IN_PATH, f"opt_in_path[] {reference!r} is not an opt-in path.")
    return path


def organization_for_join(data: QueryDict) -> Organization | None:
    """The organization a join post is for, when its first path is known (for the answer's CORS headers)."""
    references = path_references(data, "opt_in_path")
    if not references:
        return None
    try:
        return organization_of_path(references[0]).organization
    except ApiError:
        return None


def web_settings(organization: Organization) -> WebSettings:
    return WebSettings.objects.filter(organization=organization).first() or WebSettings(
        organization=organization
    )


def check_origin(organization: Organization, origin: str, own_origin: str) -> None:
    """A post from ``origin`` may go on: no list set, the list names it, or it is the platform itself."""
    allowed = web_settings(organization).origins
    normalized = origin.rstrip("/").lower()
    if normalized and allowed and normalized not in allowed and normalized != own_origin.lower():
        raise HttpProblem(403, "Forbidden", f"Posts from {origin} are not allowed for this organization.")


def check_redirect(organization: Organization, target: str) -> str:
    if not target:
        return ""
    parts = urlsplit(target)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or host not in web_settings(organization).redirect_hosts:
        raise ApiError(
            INVALID_PARAMETER,
            f"redirect_to {target!r} is not on a host this organization allows (see its web opt-in settings).",
        )
    return target


def person_values(data: QueryDict) -> dict[str, str]:
    values = {}
    for key in data:
        match = PERSON_FIELD.match(key)
        if match:
            values[match.group(1)] = data.get(key, "")
    return values


def join(data: QueryDict, *, origin: str, own_origin: str) -> JoinResult:
    """Opt the person in through every path given, and invite the friends they named.

    Everything is read and checked before anything is written, so a bad friend's number or a refused
    redirect leaves no half-done opt-in behind.
    """
    references = path_references(data, "opt_in_path")
    if not references:
        raise ApiError(MISSING_PARAMETER, "opt_in_path[] is required (an opt-in path key or id).")
    first = organization_of_path(references[0])
    organization = first.organization
    check_origin(organization, origin, own_origin)
    services.ensure_active(first, "opt_in_path[]")
    paths = [first] + [services.joinable_path(organization, ref, "opt_in_path[]") for ref in references[1:]]
    params = Params(data, organization)
    result = JoinResult(organization, redirect_to=check_redirect(organization, params.text("redirect_to")))

    values = person_values(data)
    phone_raw = values.pop("phone", "").strip()
    if not phone_raw:
        raise ApiError(MISSING_PARAMETER, "person[phone] is required.")
    phone = phone_or_error(phone_raw, organization, "person[phone]")
    person = services.split_fields(values)
    person.phone = phone

    channel, wording, detail = Channel.WEB, params.text("consent_wording"), "Web opt-in form"
    snippet_key = params.text("snippet_key")
    if snippet_key:
        snippet = DonationFormSnippet.objects.filter(organization=organization, key=snippet_key).first()
        if snippet is None:
            raise ApiError(INVALID_PARAMETER, f"snippet_key {snippet_key!r} is not this organization's.")
        channel, detail = Channel.DONATION_FORM, "Luminate donation form"
        wording = wording or snippet.consent_wording
    if len(wording) > MAX_WORDING:
        raise ApiError(
            INVALID_PARAMETER, f"consent_wording is {len(wording)} characters, over {MAX_WORDING}."
        )

    friend_phones = [
        phone_or_error(raw, organization, "friends[]")
        for raw in data.getlist("friends[]") + data.getlist("friends")
        if raw.strip()
    ]
    if len(friend_phones) > MAX_FRIENDS:
        raise ApiError(
            INVALID_PARAMETER, f"friends[] names {len(friend_phones)} numbers, over {MAX_FRIENDS}."
        )
    friends_path = None
    if friend_phones:
        friend_refs = path_references(data, "friends_opt_in_path")
        if not friend_refs:
            raise ApiError(MISSING_PARAMETER, "friends_opt_in_path is required when friends[] is given.")
        friends_path = services.joinable_path(organization, friend_refs[0], "friends_opt_in_path")

    actor = f"web form at {origin}" if origin else "web form"
    with transaction.atomic():
        profile, _ = services.save_person(organization, person, channel=channel, source_detail=detail)
        for path in paths:
            services.opt_in(
                profile, path, channel=channel, actor=actor, source_detail=detail, wording=wording
            )
        for friend_phone in friend_phones:
            if friend_phone == profile.phone_number:
                continue
            friend, _ = services.save_person(
                organization,
                services.PersonInput(phone=friend_phone),
                channel=Channel.REFERRAL,
                source_detail=f"Referred by {profile.phone_number}",
            )
            # Nothing is sent to a number that opted out, is subscribed or already asked.
            services.opt_in(
                friend,
                friends_path,
                channel=Channel.REFERRAL,
                actor=profile.phone_number,
                source_detail=f"Referred by {profile.phone_number} on a web opt-in form",
            )
    return result


def snippet_for(data: QueryDict, *, origin: str, own_origin: str) -> DonationFormSnippet:
    key = (data.get("snippet_key") or "").strip()
    if not key:
        raise ApiError(MISSING_PARAMETER, "snippet_key is required.")
    snippet = DonationFormSnippet.objects.select_related("organization").filter(key=key).first()
    if snippet is None:
        raise ApiError(INVALID_PARAMETER, f"snippet_key {key!r} is unknown.")
    check_origin(snippet.organization, origin, own_origin)
    return snippet


def record_gift(snippet: DonationFormSnippet, data: QueryDict):
    """Record a completed gift reported by the thank-you page; the same transaction twice is one gift."""
    organization = snippet.organization
    params = Params(data, organization)
    transaction_id = params.text("transaction_id", required=True, max_length=64)
    phone = params.phone("phone", required=False)
    email = params.text("donor_email", max_length=255)
    billing = {}
    for key in data:
        match = BILLING_FIELD.match(key)
        if match:
            billing[match.group(1)] = data.get(key, "")
    profile = services.find_profile_for_gift(organization, phone, email)
    try:
        return subscribers.record_donation(
            organization,
            transaction_id=transaction_id,
            form_id=params.text("form_id", max_length=32),
            level_id=params.text("level_id", max_length=32),
            donor_email=email,
            amount=params.decimal("amount"),
            billing_address=billing,
            profile=profile,
            channel=Channel.DONATION_FORM,
        )
    except subscribers.DonationError as exc:
        raise ApiError(INVALID_PARAMETER, str(exc)) from None
