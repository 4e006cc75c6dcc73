"""What the API, the web opt-in and the donation snippet do, as plain functions over clear inputs.

Consent changes go through :mod:`lumisync.subscribers.services` only; this module reads requests' values,
finds the organization's objects and reports refusals as :class:`~lumisync.mcapi.errors.ApiError`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Prefetch, Q

from lumisync.accounts.models import Organization
from lumisync.mcapi.errors import (
    INVALID_CAMPAIGN,
    INVALID_OPT_IN_PATH,
    INVALID_PARAMETER,
    INVALID_PHONE_NUMBER,
    INVALID_SUBSCRIPTION,
    ApiError,
)
from lumisync.subscribers import services as subscribers
from lumisync.subscribers.fields import PROFILE_FIELDS
from lumisync.subscribers.models import Call, Campaign, Channel, OptInPath, Profile, Subscription
from lumisync.subscribers.phones import InvalidPhoneNumber

# Mobile Commons' custom columns are named freely ("MJB 081613 Obama NY/PA DETAILS", "0715ManyWords"): any
# printable name of up to 64 characters that starts and ends with a non-space. Brackets and angle brackets
# are kept out, so that person[<name>] on a web form stays unambiguous and a name is never markup.
CUSTOM_FIELD_NAME = re.compile(r"(?!\s)(?!.*\s\Z)[^\x00-\x1f\x7f-\x9f<>\[\]]{1,64}")
CUSTOM_VALUE_MAX = 500


def subscriptions_prefetch() -> Prefetch:
    return Prefetch(
        "subscriptions",
        queryset=Subscription.objects.select_related("campaign", "activated_by", "opted_out_by").order_by(
            "campaign__name"
        ),
    )


# --- reading ---------------------------------------------------------------------------------------------


def list_profiles(
    organization: Organization,
    *,
    phones: list[str] = (),
    updated_from: dt.datetime | None = None,
    updated_to: dt.datetime | None = None,
    limit: int = 100,
    page: int = 1,
    with_subscriptions: bool = True,
) -> list[Profile]:
    profiles = Profile.objects.filter(organization=organization).order_by("id")
    if phones:
        profiles = profiles.filter(phone_number__in=phones)
    if updated_from is not None:
        profiles = profiles.filter(updated_at__gte=updated_from)
    if updated_to is not None:
        profiles = profiles.filter(updated_at__lte=updated_to)
    if with_subscriptions:
        profiles = profiles.prefetch_related(subscriptions_prefetch())
    start = (page - 1) * limit
    return list(profiles[start : start + limit])


def find_profile(organization: Organization, phone: str) -> Profile:
    profile = (
        Profile.objects.filter(organization=organization, phone_number=phone)
        .prefetch_related(subscriptions_prefetch())
        .first()
    )
    if profile is None:
        raise ApiError(INVALID_PHONE_NUMBER, f"no profile has phone_number {phone!r}.")
    return profile


def reload_profile(profile: Profile) -> Profile:
    return Profile.objects.prefetch_related(subscriptions_prefetch()).get(pk=profile.pk)


def campaign_of(organization: Organization, campaign_id: int) -> Campaign:
    campaign = Campaign.objects.filter(organization=organization, pk=campaign_id).first()
    if campaign is None:
        raise ApiError(
            INVALID_CAMPAIGN, f"campaign_id {campaign_id!r} is not a campaign of this organization."
        )
    return campaign


def opt_in_path_of(organization: Organization, reference: str, name: str = "opt_in_path_id") -> OptInPath:
    """The organization's opt-in path by id or by public key (``OP…``)."""
    reference = str(reference).strip()
    lookup = Q(pk=int(reference)) if reference.isdigit() else Q(public_key=reference)
    path = OptInPath.objects.select_related("campaign").filter(lookup, organization=organization).first()
    if path is None:
        raise ApiError(
            INVALID_OPT_IN_PATH, f"{name} {reference!r} is not an opt-in path of this organization."
        )
    return path


def joinable_path(organization: Organization, reference: str, name: str = "opt_in_path_id") -> OptInPath:
    """As :func:`opt_in_path_of`, for joining through it: an inactive path is refused before anything is saved."""
    path = opt_in_path_of(organization, reference, name)
    ensure_active(path, name)
    return path


def ensure_active(path: OptInPath, name: str) -> None:
    if not path.active:
        raise ApiError(
            INVALID_OPT_IN_PATH, f"{name} {path.pk} ({path.name!r}) is inactive and takes no opt-ins."
        )


def list_campaigns(organization: Organization, *, with_opt_in_paths: bool) -> list[Campaign]:
    campaigns = Campaign.objects.filter(organization=organization).order_by("id")
    if with_opt_in_paths:
        campaigns = campaigns.prefetch_related(
            Prefetch("opt_in_paths", queryset=OptInPath.objects.order_by("id"))
        )
    return list(campaigns)


def list_subscribers(
    campaign: Campaign,
    *,
    opt_in_path: OptInPath | None = None,
    updated_from: dt.datetime | None = None,
    updated_to: dt.datetime | None = None,
    limit: int = 100,
    page: int = 1,
) -> list[Subscription]:
    subscriptions = campaign.subscriptions.select_related("profile").order_by("id")
    if opt_in_path is not None:
        subscriptions = subscriptions.filter(opt_in_path=opt_in_path)
    if updated_from is not None:
        subscriptions = subscriptions.filter(updated_at__gte=updated_from)
    if updated_to is not None:
        subscriptions = subscriptions.filter(updated_at__lte=updated_to)
    start = (page - 1) * limit
    return list(subscriptions[start : start + limit])


# --- writing ---------------------------------------------------------------------------------------------


@dataclass
class PersonInput:
    """A person's details as a form or an API call gives them; empty values are left alone."""

    phone: str
    fields: dict[str, str] = field(default_factory=dict)
    custom_fields: dict[str, str] = field(default_factory=dict)


def split_fields(values: Mapping[str, str], *, ignore: frozenset[str] = frozenset()) -> PersonInput:
    """Sort raw name → value pairs into the standard fields and custom fields, refusing odd names."""
    person = PersonInput(phone="")
    for name, raw in values.items():
        value = (raw or "").strip()
        if name in ignore or not value:
            continue
        if name in PROFILE_FIELDS:
            person.fields[name] = value
        elif CUSTOM_FIELD_NAME.fullmatch(name):
            if len(value) > CUSTOM_VALUE_MAX:
                raise ApiError(
                    INVALID_PARAMETER,
                    f"custom field {name!r} is {len(value)} characters, over {CUSTOM_VALUE_MAX}.",
                )
            person.custom_fields[name] = value
        else:
            raise ApiError(INVALID_PARAMETER, f"{name!r} is not a profile field or custom field name.")
    return person


def save_person(
    organization: Organization, person: PersonInput, *, channel: str, source_detail: str
) -> tuple[Profile, bool]:
    """Create or update the profile of ``person.phone``; an error names the field and value."""
    changes = dict(person.fields)
    if person.custom_fields:
        changes["custom_fields"] = person.custom_fields
    try:
        profile, created = subscribers.get_or_create_profile(
            organization, person.phone, channel=channel, source_detail=source_detail, **changes
        )
        if not created and changes:
            subscribers.update_profile_fields(profile, **changes)
    except InvalidPhoneNumber as exc:
        raise ApiError(INVALID_PHONE_NUMBER, f"phone_number: {exc}") from None
    except subscribers.ProfileFieldError as exc:
        raise ApiError(INVALID_PARAMETER, str(exc)) from None
    return profile, created


def opt_in(
    profile: Profile, path: OptInPath, *, channel: str, actor: str, source_detail: str, wording: str = ""
):
    return subscribers.opt_in(
        profile, path, channel=channel, actor=actor, source_detail=source_detail, consent_wording=wording
    )


def opt_out(
    organization: Organization,
    profile: Profile,
    *,
    campaign_id: int | None,
    subscription_id: int | None,
    actor: str,
):
    """Opt out of one campaign (by campaign or subscription id) or, with neither, of each one subscribed.

    "All campaigns" opts out campaign by campaign: it is not the person texting STOP, so the profile is not
    marked "Texted a STOP word" and stays reachable by a later opt-in of its own.
    """
    campaign = None
    if subscription_id is not None:
        subscription = profile.subscriptions.select_related("campaign").filter(pk=subscription_id).first()
        if subscription is None:
            raise ApiError(
                INVALID_SUBSCRIPTION,
                f"subscription_id {subscription_id!r} is not a subscription of {profile.phone_number}.",
            )
        campaign = subscription.campaign
    elif campaign_id is not None:
        campaign = campaign_of(organization, campaign_id)
    if campaign is not None:
        campaigns = [campaign]
    else:
        subscribed = profile.subscriptions.select_related("campaign")
        if not profile.is_globally_opted_out:
            subscribed = subscribed.exclude(status=Subscription.Status.OPTED_OUT)
        # Under a STOP every subscription reads opted out, yet a START would restore what it stopped: each
        # is opted out on its own as well (opt_out tells which need it).
        campaigns = [sub.campaign for sub in subscribed]
    return [
        subscribers.opt_out(
            profile, each, channel=Channel.API, actor=actor, source_detail="API profile_opt_out"
        )
        for each in campaigns
    ]


def record_call(organization: Organization, phone: str, **call) -> Call:
    """Record a patch-through call on the profile of ``phone``, created for it when the number is new.

    A refused call leaves nothing behind, not even the profile it would have created.
    """
    try:
        with transaction.atomic():
            person, _ = subscribers.get_or_create_profile(
                organization, phone, channel=Channel.API, source_detail="Patch-through call"
            )
            return subscribers.record_call(person, **call)
    except InvalidPhoneNumber as exc:
        raise ApiError(INVALID_PHONE_NUMBER, f"phone_number: {exc}") from None
    except subscribers.CallError as exc:
        raise ApiError(INVALID_PARAMETER, str(exc)) from None


def find_profile_for_gift(organization: Organization, phone: str, email: str) -> Profile | None:
    """The person a gift belongs to: the number given on the form, else a single profile with the email."""
    if phone:
        profile = Profile.objects.filter(organization=organization, phone_number=phone).first()
        if profile is not None:
            return profile
    if email:
        matches = list(Profile.objects.filter(organization=organization, email__iexact=email)[:2])
        if len(matches) == 1:
            return matches[0]
    return None
