"""Consent and profile services: the only code that changes who may be texted.

Every consent change goes through :func:`opt_in`, :func:`confirm`, :func:`restart` or :func:`opt_out`. Each
records its provenance (channel, actor, time, source detail, wording shown) as a :class:`ConsentEvent`
appended in the same transaction as the change, and answers with a :class:`ConsentResult`.

The rules, in short:

* A number is subscribed to a campaign once; a welcome message is queued once per subscription, ever.
* Only the person re-subscribes a number that opted out. A text from the number (keyword, START, YES) acts
  at once. A web form, API call, donation form or administrator only creates a Pending subscription and
  queues a confirmation prompt, which a YES from the number activates. An import, the Luminate sync or a
  friend referral never re-subscribes it, and creates nothing pending either.
* START undoes a STOP: it restores what was active when the STOP came, which also answers a request for
  one of those campaigns made since (a web form ...), and nothing else.
* A friend referral is for someone else's number, so it is always Pending first.
* A path with a confirmation prompt is always Pending first, whatever the channel.

Bulk use (the sync engine): every service takes one profile-row lock and a handful of queries, never one
per field. Load the subscriptions of a whole chunk with :func:`load_subscriptions` (one query) and pass each
profile's map as ``subscriptions=`` to :func:`opt_in` / :func:`opt_out` to skip the per-call subscription
query; :func:`profiles_by_phone` loads a chunk's profiles in one query. Pass ``save=False`` to
:func:`update_profile_fields` to collect changes for :func:`lumisync.core.bulk.update`. Profiles a sync has
just created are subscribed by :func:`opt_in_new_profiles` in a few bulk queries, under the same rules.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from lumisync.accounts.models import Organization
from lumisync.core import bulk as bulk_rows
from lumisync.messaging import services as outbox
from lumisync.messaging.models import Message
from lumisync.subscribers.emails import normalize_email
from lumisync.subscribers.fields import PROFILE_FIELDS

# The CSV export lives in history.py; named here too so that callers find every service in one place.
from lumisync.subscribers.history import consent_history_csv as consent_history_csv
from lumisync.subscribers.models import (
    DELIVERY_STATUSES,
    Call,
    Campaign,
    Channel,
    ConsentEvent,
    Donation,
    OptInPath,
    Profile,
    ProfileStatus,
    Subscription,
)
from lumisync.subscribers.phones import normalize_mobile, normalize_phone

# A text from the number itself is the person acting; everything else may be someone else.
PERSON_CHANNELS = frozenset({Channel.SMS})
# Channels that copy data from elsewhere: they never override a person's opt-out.
SYNC_CHANNELS = frozenset({Channel.LUMINATE, Channel.IMPORT})

DEFAULT_CONFIRMATION_PROMPT = (
    "{organization}: reply YES to get text messages from {campaign}. "
    "Msg & data rates may apply. Reply HELP for help, STOP to end."
)


class Outcome(enum.StrEnum):
    """What a consent service did."""

    ACTIVATED = "activated"
    PENDING_CONFIRMATION = "pending_confirmation"
    ALREADY_ACTIVE = "already_active"
    ALREADY_PENDING = "already_pending"
    REFUSED_OPTED_OUT = "refused_opted_out"
    PATH_INACTIVE = "path_inactive"
    OPTED_OUT = "opted_out"
    ALREADY_OPTED_OUT = "already_opted_out"
    NOT_SUBSCRIBED = "not_subscribed"
    NOT_OPTED_OUT = "not_opted_out"


@dataclasses.dataclass(frozen=True)
class ConsentResult:
    """The answer of a consent service.

    Attributes:
        outcome: what happened.
        reason: one human sentence, fit for a sync report row.
        subscription: the subscription concerned, when there is one.
        event: the consent event appended, or None when nothing changed.
        messages: the welcome or confirmation messages queued.
        affected: for a global opt-out or a START, every subscription it changed.
    """

    outcome: Outcome
    reason: str
    subscription: Subscription | None = None
    event: ConsentEvent | None = None
    messages: tuple[Message, ...] = ()
    affected: tuple[Subscription, ...] = ()

    @property
    def changed(self) -> bool:
        return self.event is not None


class ProfileFieldError(ValueError):
    """A profile field value that cannot be stored; the message names the profile, field and value."""


class DonationError(ValueError):
    """A donation that cannot be recorded; the message names the transaction, field and value."""


class CallError(ValueError):
    """A call that cannot be recorded; the message names the alert, field and value."""


class _SubscriptionRace(Exception):
    """Another transaction created the subscription first (a stale preloaded map)."""


# --- consent -------------------------------------------------------------------------------------------


def opt_in(
    profile: Profile,
    path: OptInPath,
    *,
    channel: str,
    actor: str = "",
    source_detail: str = "",
    consent_wording: str = "",
    subscriptions: Mapping[int, Subscription] | None = None,
) -> ConsentResult:
    """Subscribe ``profile`` to the campaign of ``path``, as the rules of this module allow.

    Args:
        profile: a saved profile of the path's organization.
        path: the opt-in path used; its welcome or confirmation prompt is queued.
        channel: a :class:`Channel` value; it decides what an opt-out or a prompt requires.
        actor: who made the request (a user name, an API key name, a referring number ...).
        source_detail: where it came from (the form, keyword or sync run).
        consent_wording: the consent text the person was shown, if any.
        subscriptions: optional preloaded map campaign id -> subscription of this profile (see
            :func:`load_subscriptions`); a campaign missing from it is taken as never subscribed. A
            mutable map gets the subscription created here.

    Returns:
        ACTIVATED, PENDING_CONFIRMATION, ALREADY_ACTIVE, ALREADY_PENDING, REFUSED_OPTED_OUT or
        PATH_INACTIVE.
    """
    channel = Channel(channel)
    _check_organization(profile, path.organization_id, "opt-in path", path.name)
    if not path.active:
        return ConsentResult(Outcome.PATH_INACTIVE, f"The opt-in path {path.name!r} is inactive.")
    try:
        with transaction.atomic():
            return _opt_in_locked(
                profile, path, channel, actor, source_detail, consent_wording, subscriptions
            )
    except _SubscriptionRace:
        with transaction.atomic():
            result = _opt_in_locked(profile, path, channel, actor, source_detail, consent_wording, None)
        if result.subscription is not None:
            _remember(subscriptions, result.subscription)
        return result


def _opt_in_locked(profile, path, channel, actor, source_detail, consent_wording, subscriptions):
    _lock_consent(profile)
    campaign = path.campaign
    sub = _subscription_for(profile, campaign.pk, subscriptions)
    stopped = profile.is_globally_opted_out
    if sub is not None and sub.status == Subscription.Status.ACTIVE and not stopped:
        return ConsentResult(
            Outcome.ALREADY_ACTIVE, f"Already subscribed to {campaign}; no second welcome.", sub
        )
    opted_out = stopped or (sub is not None and sub.status == Subscription.Status.OPTED_OUT)
    # A referral is someone else typing the number: after an opt-out even a prompt needs the person's own act.
    if opted_out and (channel in SYNC_CHANNELS or channel == Channel.REFERRAL):
        return ConsentResult(Outcome.REFUSED_OPTED_OUT, _refusal_reason(profile, sub, campaign, channel), sub)
    by_person = channel in PERSON_CHANNELS
    if (
        sub is not None
        and sub.status == Subscription.Status.PENDING
        and (not by_person or path.requires_confirmation)
    ):
        return ConsentResult(
            Outcome.ALREADY_PENDING, f"Already waiting for a YES to join {campaign}; nothing sent again.", sub
        )
    provenance = _Provenance(channel, actor, source_detail, consent_wording, timezone.now())
    if path.requires_confirmation or channel == Channel.REFERRAL or (opted_out and not by_person):
        return _make_pending(profile, path, sub, provenance, subscriptions)
    return _activate(profile, path, sub, provenance, subscriptions)


def confirm(profile: Profile, *, actor: str = "", source_detail: str = "Replied YES") -> list[ConsentResult]:
    """Activate every Pending subscription of ``profile``: the person replied YES from the number.

    A YES from the number also lifts a global opt-out. Each activation appends an opt-in event whose
    consent wording is the prompt the person answered, and queues the path's welcome if none went before.

    Returns:
        One ACTIVATED result per subscription activated; empty when nothing was pending.
    """
    with transaction.atomic():
        _lock_consent(profile)
        pending = list(
            profile.subscriptions.filter(status=Subscription.Status.PENDING).select_related(
                "campaign", "opt_in_path"
            )
        )
        if not pending:
            return []
        now = timezone.now()
        if profile.is_globally_opted_out:
            _lift_global_opt_out(
                profile, _Provenance(Channel.SMS, actor or profile.phone_number, source_detail, "", now)
            )
        results = []
        for sub in pending:
            wording = _confirmation_prompt(profile, sub.opt_in_path, sub.campaign)
            provenance = _Provenance(Channel.SMS, actor or profile.phone_number, source_detail, wording, now)
            results.append(_activate(profile, sub.opt_in_path, sub, provenance, None, campaign=sub.campaign))
        return results


def restart(profile: Profile, *, actor: str = "", source_detail: str = "Texted START") -> ConsentResult:
    """Undo a global opt-out at the person's request (START texted from the number).

    Every subscription that was active when the STOP came becomes active again, through the path it was
    active through, with no second welcome. That includes one that a web form, API call or referral has
    since turned into a request waiting for a YES, and one whose request a second STOP refused: START is
    the person asking for what they stopped, so it also answers such a request (its event says so).
    Nothing else is activated: a request nobody confirmed before the STOP, a campaign opted out of on its
    own (before the STOP or since), a request for a campaign the STOP did not stop (it waits for a YES).

    Returns:
        ACTIVATED with the restored subscriptions in ``affected`` (possibly none: the global opt-out is
        lifted all the same), or NOT_OPTED_OUT.
    """
    with transaction.atomic():
        _lock_consent(profile)
        if not profile.is_globally_opted_out:
            return ConsentResult(Outcome.NOT_OPTED_OUT, "The number had not opted out of all messages.")
        restorable = _stopped_while_active(profile)
        stopped = list(
            profile.subscriptions.filter(campaign_id__in=restorable)
            .exclude(status=Subscription.Status.ACTIVE)
            .select_related("campaign")
        )
        paths = OptInPath.objects.in_bulk({restorable[sub.campaign_id].path_id for sub in stopped} - {None})
        provenance = _Provenance(
            Channel.SMS, actor or profile.phone_number, source_detail, "", timezone.now()
        )
        event = _lift_global_opt_out(profile, provenance)
        messages: list[Message] = []
        for sub in stopped:
            stop = restorable[sub.campaign_id]
            how = provenance
            if stop.request is not None:
                how = dataclasses.replace(
                    provenance,
                    source_detail=f"{source_detail}; also answers the {stop.request.get_channel_display()} "
                    f"request of {stop.request.occurred_at:%Y-%m-%d %H:%M} UTC waiting for a YES",
                )
            path = paths.get(stop.path_id)
            result = _activate(profile, path, sub, how, None, campaign=sub.campaign)
            messages.extend(result.messages)
        if not stopped:
            _save_status(
                profile, has_active=profile.subscriptions.filter(status=Subscription.Status.ACTIVE).exists()
            )
        names = ", ".join(str(sub.campaign) for sub in stopped) or "no campaign"
        return ConsentResult(
            Outcome.ACTIVATED,
            f"Global opt-out lifted; re-subscribed to {names}.",
            event=event,
            messages=tuple(messages),
            affected=tuple(stopped),
        )


@dataclasses.dataclass(frozen=True)
class _Stopped:
    path_id: int | None
    request: ConsentEvent | None


def _stopped_while_active(profile: Profile) -> dict[int, _Stopped]:
    """The campaigns the global opt-out in force stopped while active, and nobody opted out of since.

    Read from the consent log rather than the subscriptions: a request made after the STOP rewrites the
    subscription row (status, path, activation), and a second STOP its opt-out time, but never the log.
    Each campaign comes with the path of the activation the STOP ended and the latest request since.
    """
    history = profile.consent_events.only(
        "id", "campaign_id", "opt_in_path_id", "kind", "channel", "occurred_at"
    ).order_by("id")
    active: dict[int, int | None] = {}
    stopped: dict[int, int | None] = {}
    requests: dict[int, ConsentEvent] = {}
    stop: ConsentEvent | None = None
    for event in history:
        if event.campaign_id is None:
            if event.kind == ConsentEvent.Kind.OPT_IN:
                stop = None  # lifted: every activation after a STOP lifts it first
            elif event.kind == ConsentEvent.Kind.OPT_OUT and stop is None:
                stop, stopped, active, requests = event, active, {}, {}
            elif event.kind == ConsentEvent.Kind.OPT_OUT:
                # A second STOP refuses the requests made since, not what the first one stopped.
                requests = {}
        elif stop is None:
            if event.kind == ConsentEvent.Kind.OPT_IN:
                active[event.campaign_id] = event.opt_in_path_id
            else:
                active.pop(event.campaign_id, None)
        elif event.kind == ConsentEvent.Kind.PENDING:
            requests[event.campaign_id] = event
        else:
            stopped.pop(event.campaign_id, None)
    # A log that disagrees with the profile restores nothing rather than something unasked for.
    if stop is None or stop.occurred_at != profile.opted_out_at:
        return {}
    return {campaign: _Stopped(path, requests.get(campaign)) for campaign, path in stopped.items()}


def opt_out(
    profile: Profile,
    campaign: Campaign | None = None,
    *,
    channel: str,
    actor: str = "",
    source_detail: str = "",
    subscriptions: Mapping[int, Subscription] | None = None,
) -> ConsentResult:
    """Opt ``profile`` out of ``campaign``, or of everything (a STOP word) when ``campaign`` is None.

    Any channel may opt a number out. A global opt-out stamps ``Profile.opted_out_at``, stops every
    subscription (Pending ones included) and appends one event without a campaign. Opting out of a campaign
    that the global opt-out in force stopped appends that campaign's event all the same (the subscription
    row is left as the STOP wrote it), so that a later START does not restore it.

    Returns:
        OPTED_OUT, ALREADY_OPTED_OUT or NOT_SUBSCRIBED.
    """
    channel = Channel(channel)
    if campaign is not None:
        _check_organization(profile, campaign.organization_id, "campaign", campaign.name)
    with transaction.atomic():
        _lock_consent(profile)
        provenance = _Provenance(channel, actor, source_detail, "", timezone.now())
        if campaign is None:
            return _opt_out_globally(profile, provenance)
        sub = _subscription_for(profile, campaign.pk, subscriptions)
        if sub is None:
            return ConsentResult(
                Outcome.NOT_SUBSCRIBED, f"Not subscribed to {campaign}; nothing to opt out of."
            )
        if sub.status == Subscription.Status.OPTED_OUT:
            if profile.is_globally_opted_out and campaign.pk in _stopped_while_active(profile):
                # Stopped by the STOP in force, which a START would undo: the log must say that this
                # campaign was also opted out of on its own, so that START leaves it stopped.
                event = _append_event(
                    profile, ConsentEvent.Kind.OPT_OUT, provenance, campaign, sub.opt_in_path
                )
                return ConsentResult(
                    Outcome.OPTED_OUT,
                    f"Opted out of {campaign} (already stopped by the opt-out of all messages; a START "
                    "will not restore it).",
                    sub,
                    event,
                )
            return ConsentResult(Outcome.ALREADY_OPTED_OUT, f"Already opted out of {campaign}.", sub)
        event = _append_event(profile, ConsentEvent.Kind.OPT_OUT, provenance, campaign, sub.opt_in_path)
        _stop_subscription(sub, event)
        sub.save(update_fields=["status", "opted_out_at", "opted_out_by", "updated_at"])
        if subscriptions is None:
            has_active = profile.subscriptions.filter(status=Subscription.Status.ACTIVE).exists()
        else:
            has_active = any(other.status == Subscription.Status.ACTIVE for other in subscriptions.values())
        _save_status(profile, has_active=has_active)
        return ConsentResult(Outcome.OPTED_OUT, f"Opted out of {campaign}.", sub, event)


def _opt_out_globally(profile: Profile, provenance: _Provenance) -> ConsentResult:
    # After a STOP, only requests waiting for a YES (a web form, API call ...) can be left to stop: a
    # second STOP refuses them, so their prompts are cancelled at sending and a later YES finds nothing.
    stopped = list(profile.subscriptions.exclude(status=Subscription.Status.OPTED_OUT))
    already = profile.is_globally_opted_out
    if already and not stopped:
        return ConsentResult(
            Outcome.ALREADY_OPTED_OUT,
            f"Already opted out of all messages since {profile.opted_out_at:%Y-%m-%d %H:%M} UTC.",
        )
    event = _append_event(profile, ConsentEvent.Kind.OPT_OUT, provenance, None, None)
    for sub in stopped:
        _stop_subscription(sub, event)
    Subscription.objects.filter(pk__in=[sub.pk for sub in stopped]).update(
        status=Subscription.Status.OPTED_OUT,
        opted_out_at=event.occurred_at,
        opted_out_by=event,
        updated_at=event.occurred_at,
    )
    if already:
        # The first STOP's time stays: START restores what that STOP stopped, never these requests.
        return ConsentResult(
            Outcome.OPTED_OUT,
            f"Already opted out of all messages; {len(stopped)} request(s) waiting for a YES cancelled.",
            event=event,
            affected=tuple(stopped),
        )
    profile.opted_out_at = event.occurred_at
    profile.opted_out_source = _describe(provenance)[:255]
    _save_status(profile, has_active=False, extra_fields=("opted_out_at", "opted_out_source"))
    return ConsentResult(
        Outcome.OPTED_OUT, "Opted out of all messages.", event=event, affected=tuple(stopped)
    )


def opt_in_new_profiles(
    pairs: Iterable[tuple[Profile, OptInPath]],
    *,
    channel: str,
    actor: str = "",
    source_detail: str = "",
    zones: Mapping[str, str] | None = None,
    subscriptions: Mapping[int, Mapping[int, Subscription]] | None = None,
) -> list[ConsentResult]:
    """:func:`opt_in` for many profiles at once, in a handful of bulk queries: for a sync that has just
    created the profiles. ``zones`` gives the recipients' time zones by phone number where the caller
    already read them (:func:`~lumisync.subscribers.phones.read_mobile`), so no number is read twice.
    ``subscriptions`` (profile id -> campaign id -> subscription, as :func:`load_subscriptions` returns)
    gives the subscriptions of the profiles it names, which are then not looked up.

    The rules are :func:`opt_in`'s. A profile that already has a subscription to the path's campaign, or
    that has opted out, is handed to :func:`opt_in` itself, so this is never a way around them. Call it
    inside the transaction that created the profiles (nobody else can have changed their consent yet).

    Returns:
        One result per pair, in order: ACTIVATED, PENDING_CONFIRMATION, PATH_INACTIVE or :func:`opt_in`'s.
    """
    channel = Channel(channel)
    pairs = list(pairs)
    if channel in PERSON_CHANNELS:
        # The person texting gets immediate replies, one at a time.
        return [
            opt_in(profile, path, channel=channel, actor=actor, source_detail=source_detail)
            for profile, path in pairs
        ]
    for profile, path in pairs:
        _check_organization(profile, path.organization_id, "opt-in path", path.name)
    known = subscriptions or {}
    existing = {(profile.pk, campaign) for profile, _path in pairs for campaign in known.get(profile.pk, ())}
    unknown = [profile.pk for profile, _path in pairs if profile.pk not in known]
    if unknown:
        existing.update(
            Subscription.objects.filter(profile_id__in=unknown).values_list("profile_id", "campaign_id")
        )
    now = timezone.now()
    results: list[ConsentResult | None] = [None] * len(pairs)
    bulk: list[tuple[int, Profile, OptInPath, bool]] = []
    claimed: set[tuple[int, int]] = set()
    for index, (profile, path) in enumerate(pairs):
        key = (profile.pk, path.campaign_id)
        if not path.active:
            results[index] = ConsentResult(
                Outcome.PATH_INACTIVE, f"The opt-in path {path.name!r} is inactive."
            )
        elif key in existing or key in claimed or profile.is_globally_opted_out:
            results[index] = opt_in(profile, path, channel=channel, actor=actor, source_detail=source_detail)
        else:
            claimed.add(key)
            pending = path.requires_confirmation or channel == Channel.REFERRAL
            bulk.append((index, profile, path, pending))
    if not bulk:
        return results
    with transaction.atomic():
        events = [
            bulk_rows.new(
                ConsentEvent,
                organization_id=profile.organization_id,
                profile=profile,
                campaign_id=path.campaign_id,
                opt_in_path=path,
                kind=ConsentEvent.Kind.PENDING if pending else ConsentEvent.Kind.OPT_IN,
                channel=channel,
                actor=actor[:255],
                source_detail=source_detail[:500],
                occurred_at=now,
            )
            for _index, profile, path, pending in bulk
        ]
        bulk_rows.create(events)
        new_subscriptions = [
            bulk_rows.new(
                Subscription,
                profile=profile,
                campaign_id=path.campaign_id,
                opt_in_path=path,
                status=Subscription.Status.PENDING if pending else Subscription.Status.ACTIVE,
                activated_at=None if pending else now,
                activated_by=None if pending else event,
                welcome_sent_at=now if not pending and path.welcome_message.strip() else None,
            )
            for (_index, profile, path, pending), event in zip(bulk, events, strict=True)
        ]
        bulk_rows.create(new_subscriptions)
        messages: list[Message | None] = []
        for (_index, profile, path, pending), sub in zip(bulk, new_subscriptions, strict=True):
            if pending:
                body, kind = _confirmation_prompt(profile, path, path.campaign), Message.Kind.CONFIRMATION
            else:
                body, kind = path.welcome_message.strip(), Message.Kind.WELCOME
            # Not a reply, so it waits for the sending window: a sync is not the person texting.
            messages.append(
                outbox.new_message(
                    profile,
                    body,
                    kind=kind,
                    subscription=sub,
                    now=now,
                    zone_name=zones.get(profile.phone_number) if zones else None,
                )
                if body
                else None
            )
        bulk_rows.create([message for message in messages if message is not None])
        # A delivery status stays, as stored whatever the instance says.
        activated = {}
        for _index, profile, _path, pending in bulk:
            if not pending and profile.status not in DELIVERY_STATUSES:
                profile.status = ProfileStatus.ACTIVE
                profile.updated_at = now
                activated[profile.pk] = profile
        bulk_rows.update(
            list(activated.values()), ["status", "updated_at"], unless=("status", sorted(DELIVERY_STATUSES))
        )
    for (index, _profile, path, pending), event, sub, message in zip(
        bulk, events, new_subscriptions, messages, strict=True
    ):
        if pending:
            results[index] = ConsentResult(
                Outcome.PENDING_CONFIRMATION,
                f"Waiting for a YES to join {path.campaign}; confirmation prompt queued.",
                sub,
                event,
                (message,) if message else (),
            )
        else:
            results[index] = ConsentResult(
                Outcome.ACTIVATED,
                f"Subscribed to {path.campaign}" + ("; welcome queued." if message else "; no welcome sent."),
                sub,
                event,
                (message,) if message else (),
            )
    return results


def load_subscriptions(profiles: Iterable[Profile]) -> dict[int, dict[int, Subscription]]:
    """Every subscription of ``profiles`` in one query: profile id -> campaign id -> subscription.

    Each profile id is present (with an empty map when it has none), so the maps can be passed as
    ``subscriptions=`` to :func:`opt_in` and :func:`opt_out`.
    """
    maps: dict[int, dict[int, Subscription]] = {profile.pk: {} for profile in profiles}
    for sub in Subscription.objects.filter(profile_id__in=list(maps)).select_related(
        "campaign", "opt_in_path"
    ):
        maps[sub.profile_id][sub.campaign_id] = sub
    return maps


@dataclasses.dataclass(frozen=True)
class _Provenance:
    channel: Channel
    actor: str
    source_detail: str
    consent_wording: str
    at: datetime


def _describe(provenance: _Provenance) -> str:
    detail = f": {provenance.source_detail}" if provenance.source_detail else ""
    return f"{provenance.channel.label}{detail}"


def _check_organization(profile: Profile, organization_id: int, what: str, name: str) -> None:
    if profile.organization_id != organization_id:
        raise ValueError(
            f"The {what} {name!r} belongs to another organization than profile {profile.phone_number}."
        )


def _lock_consent(profile: Profile) -> None:
    """Lock the profile row and re-read its consent fields, so concurrent changes queue up."""
    row = (
        Profile.objects.select_for_update()
        .filter(pk=profile.pk)
        .values("opted_out_at", "opted_out_source", "status")
        .get()
    )
    for name, value in row.items():
        setattr(profile, name, value)


def _subscription_for(profile, campaign_id, subscriptions) -> Subscription | None:
    if subscriptions is not None:
        return subscriptions.get(campaign_id)
    return profile.subscriptions.select_related("opt_in_path").filter(campaign_id=campaign_id).first()


def _remember(subscriptions, sub: Subscription) -> None:
    if isinstance(subscriptions, MutableMapping):
        subscriptions[sub.campaign_id] = sub


def _append_event(profile, kind, provenance: _Provenance, campaign, path) -> ConsentEvent:
    return ConsentEvent.objects.create(
        organization_id=profile.organization_id,
        profile=profile,
        campaign=campaign,
        opt_in_path=path,
        kind=kind,
        channel=provenance.channel,
        actor=provenance.actor[:255],
        source_detail=provenance.source_detail[:500],
        consent_wording=provenance.consent_wording,
        occurred_at=provenance.at,
    )


def _create_subscription(profile, campaign, **values) -> Subscription:
    try:
        with transaction.atomic():
            return Subscription.objects.create(profile=profile, campaign=campaign, **values)
    except IntegrityError:
        raise _SubscriptionRace from None


def _make_pending(profile, path, sub, provenance: _Provenance, subscriptions) -> ConsentResult:
    campaign = path.campaign
    event = _append_event(profile, ConsentEvent.Kind.PENDING, provenance, campaign, path)
    if sub is None:
        sub = _create_subscription(profile, campaign, opt_in_path=path, status=Subscription.Status.PENDING)
        _remember(subscriptions, sub)
    else:
        # An earlier activation ended with the opt-out; keeping it would let START take this unconfirmed
        # request for a subscription that a STOP interrupted.
        sub.status = Subscription.Status.PENDING
        sub.opt_in_path = path
        sub.activated_at = None
        sub.activated_by = None
        sub.save(update_fields=["status", "opt_in_path", "activated_at", "activated_by", "updated_at"])
    prompt = _queue(
        profile,
        _confirmation_prompt(profile, path, campaign),
        kind=Message.Kind.CONFIRMATION,
        subscription=sub,
        reply=provenance.channel in PERSON_CHANNELS,
    )
    return ConsentResult(
        Outcome.PENDING_CONFIRMATION,
        f"Waiting for a YES to join {campaign}; confirmation prompt queued.",
        sub,
        event,
        (prompt,),
    )


def _activate(profile, path, sub, provenance: _Provenance, subscriptions, *, campaign=None) -> ConsentResult:
    campaign = campaign or path.campaign
    if profile.is_globally_opted_out:
        _lift_global_opt_out(profile, provenance)
    event = _append_event(profile, ConsentEvent.Kind.OPT_IN, provenance, campaign, path)
    values = {
        "status": Subscription.Status.ACTIVE,
        "opt_in_path": path,
        "activated_at": provenance.at,
        "activated_by": event,
        "opted_out_at": None,
        "opted_out_by": None,
    }
    if sub is None:
        sub = _create_subscription(profile, campaign, **values)
        _remember(subscriptions, sub)
    else:
        for name, value in values.items():
            setattr(sub, name, value)
        sub.save(update_fields=[*values, "updated_at"])
    welcome = _queue_welcome_once(profile, sub, path, reply=provenance.channel in PERSON_CHANNELS)
    _save_status(profile, has_active=True)
    return ConsentResult(
        Outcome.ACTIVATED,
        f"Subscribed to {campaign}" + ("; welcome queued." if welcome else "; no welcome sent."),
        sub,
        event,
        (welcome,) if welcome else (),
    )


def _lift_global_opt_out(profile: Profile, provenance: _Provenance) -> ConsentEvent:
    event = _append_event(
        profile,
        ConsentEvent.Kind.OPT_IN,
        dataclasses.replace(provenance, source_detail=f"Global opt-out lifted: {provenance.source_detail}"),
        None,
        None,
    )
    profile.opted_out_at = None
    profile.opted_out_source = ""
    profile.save(update_fields=["opted_out_at", "opted_out_source", "updated_at"])
    return event


def _stop_subscription(sub: Subscription, event: ConsentEvent) -> None:
    sub.status = Subscription.Status.OPTED_OUT
    sub.opted_out_at = event.occurred_at
    sub.opted_out_by = event


def consent_status(profile: Profile, *, has_active: bool | None = None) -> ProfileStatus:
    """The status ``profile``'s consent alone gives it: Stopped, Active Subscriber or No Subscriptions.

    Message delivery may mark the number Undeliverable or Hard bounce on top of this (see
    :mod:`lumisync.messaging.deliverability`); this answers what the profile goes back to once a delivery
    proves the number works. ``has_active`` (whether an active subscription exists) spares a query when
    the caller already knows.
    """
    if profile.is_globally_opted_out:
        return ProfileStatus.STOPPED
    if has_active is None:
        has_active = profile.subscriptions.filter(status=Subscription.Status.ACTIVE).exists()
    return ProfileStatus.ACTIVE if has_active else ProfileStatus.NO_SUBSCRIPTIONS


def _save_status(profile: Profile, *, has_active: bool, extra_fields: tuple[str, ...] = ()) -> None:
    status = consent_status(profile, has_active=has_active)
    if status != ProfileStatus.STOPPED and profile.status in DELIVERY_STATUSES:
        status = profile.status
    if status == profile.status and not extra_fields:
        return
    profile.status = status
    profile.save(update_fields=["status", *extra_fields, "updated_at"])


def _refusal_reason(profile: Profile, sub: Subscription | None, campaign: Campaign, channel: Channel) -> str:
    if profile.is_globally_opted_out:
        when, what = profile.opted_out_at, "all messages"
    else:
        when, what = sub.opted_out_at, str(campaign)
    since = f" on {when:%Y-%m-%d}" if when else ""
    return f"Opted out of {what}{since}; {channel.label} never re-subscribes a number, only the person can."


def _confirmation_prompt(profile: Profile, path: OptInPath | None, campaign: Campaign) -> str:
    if path is not None and path.requires_confirmation:
        return path.confirmation_prompt.strip()
    return DEFAULT_CONFIRMATION_PROMPT.format(organization=profile.organization.name, campaign=campaign.name)


def _queue_welcome_once(profile, sub: Subscription, path: OptInPath | None, *, reply: bool):
    body = path.welcome_message.strip() if path is not None else ""
    if not body or sub.welcome_sent_at is not None:
        return None
    now = timezone.now()
    # The conditional update is the guard: of two racing activations, only one sees a row to claim.
    if not Subscription.objects.filter(pk=sub.pk, welcome_sent_at__isnull=True).update(welcome_sent_at=now):
        return None
    sub.welcome_sent_at = now
    return _queue(profile, body, kind=Message.Kind.WELCOME, subscription=sub, reply=reply)


def _queue(profile, body, *, kind, subscription, reply):
    return outbox.queue_message(profile, body, kind=kind, subscription=subscription, reply=reply)


# --- profiles ------------------------------------------------------------------------------------------

_BILLING_FIELDS = (
    "billing_street1",
    "billing_street2",
    "billing_city",
    "billing_state",
    "billing_postal_code",
    "billing_country",
)
EDITABLE_PROFILE_FIELDS = frozenset({*PROFILE_FIELDS, *_BILLING_FIELDS, "custom_fields", "constituent_id"})


def get_or_create_profile(
    organization: Organization,
    phone: str,
    *,
    channel: str,
    source_detail: str = "",
    require_mobile: bool = True,
    **fields: Any,
) -> tuple[Profile, bool]:
    """Find the organization's profile for ``phone``, or create it with ``fields``.

    ``phone`` is read with the organization's phone region and must be able to receive texts, unless
    ``require_mobile`` is False (for a number that has just texted us, which proves it can). ``fields``
    apply only to a new profile (use :func:`update_profile_fields` to change an existing one) and are
    validated as there.

    Returns:
        ``(profile, created)``.

    Raises:
        InvalidPhoneNumber: ``phone`` is not a valid number, or is a fixed line (NotAMobileNumber).
        ProfileFieldError: a field value cannot be stored.
    """
    region = organization.phone_region
    e164 = normalize_mobile(phone, region) if require_mobile else normalize_phone(phone, region)
    existing = Profile.objects.filter(organization=organization, phone_number=e164).first()
    if existing is not None:
        existing.organization = organization  # spares the outbox a query for the sending window
        return existing, False
    profile = Profile(
        organization=organization,
        phone_number=e164,
        source=Channel(channel),
        source_detail=source_detail[:255],
    )
    update_profile_fields(profile, save=False, **fields)
    try:
        with transaction.atomic():
            profile.save()
    except IntegrityError:
        existing = Profile.objects.filter(organization=organization, phone_number=e164).first()
        if existing is None:
            raise ProfileFieldError(
                f"Profile {e164}: constituent_id {profile.constituent_id!r} is already linked to another profile."
            ) from None
        return existing, False
    return profile, True


def profiles_by_phone(organization: Organization, phones: Iterable[str]) -> dict[str, Profile]:
    """The organization's profiles for already-normalized E.164 ``phones``, in one query."""
    found = {}
    for profile in Profile.objects.filter(organization=organization, phone_number__in=set(phones)):
        profile.organization = organization  # one organization object shared, not one query per profile
        found[profile.phone_number] = profile
    return found


def update_profile_fields(profile: Profile, *, save: bool = True, **fields: Any) -> list[str]:
    """Set the given non-consent fields of ``profile``, validated; email is normalized.

    Text values are stripped (None means empty); ``email`` keeps its local part and lowercases its
    domain; ``custom_fields`` is merged into the existing ones; ``constituent_id`` may be None to unlink.

    Args:
        save: write the changed fields at once; False leaves saving to the caller (for a bulk update).

    Returns:
        The names of the fields whose value changed.

    Raises:
        ProfileFieldError: an unknown or consent field, or a value that is too long or not valid.
    """
    changed = []
    for name, raw in fields.items():
        value = _clean_profile_value(profile, name, raw)
        if getattr(profile, name) != value:
            setattr(profile, name, value)
            changed.append(name)
    if save and changed and profile.pk is not None:
        try:
            with transaction.atomic():
                profile.save(update_fields=[*changed, "updated_at"])
        except IntegrityError:
            raise ProfileFieldError(
                f"Profile {profile.phone_number}: constituent_id {profile.constituent_id!r} "
                "is already linked to another profile."
            ) from None
    return changed


def _clean_profile_value(profile: Profile, name: str, raw: Any) -> Any:
    where = f"Profile {profile.phone_number or '(new)'}"
    if name not in EDITABLE_PROFILE_FIELDS:
        raise ProfileFieldError(
            f"{where}: {name!r} is not a profile field that can be set here "
            "(phone numbers identify profiles; consent changes go through opt_in and opt_out)."
        )
    if name == "custom_fields":
        if not isinstance(raw, Mapping):
            raise ProfileFieldError(f"{where}: custom_fields {raw!r} is not a mapping of names to values.")
        return {**profile.custom_fields, **raw}
    if name == "constituent_id" and raw is None:
        return None
    if raw is not None and not isinstance(raw, str | int):
        raise ProfileFieldError(f"{where}: {name} {raw!r} is not text.")
    value = "" if raw is None else str(raw).strip()
    max_length = Profile._meta.get_field(name).max_length
    if len(value) > max_length:
        raise ProfileFieldError(f"{where}: {name} {value!r} is longer than {max_length} characters.")
    if name == "email" and value:
        try:
            value = normalize_email(value)
        except ValueError:
            raise ProfileFieldError(f"{where}: email {raw!r} is not a valid email address.") from None
    if name == "constituent_id" and not value:
        return None
    return value


# --- donations and calls -------------------------------------------------------------------------------

BILLING_ADDRESS_KEYS = ("street1", "street2", "city", "state", "postal_code", "country")


def record_donation(
    organization: Organization,
    *,
    transaction_id: str,
    form_id: str = "",
    level_id: str = "",
    donor_email: str = "",
    amount: Decimal | str | int | None = None,
    billing_address: Mapping[str, str] | None = None,
    profile: Profile | None = None,
    channel: str,
    donated_at: datetime | None = None,
) -> tuple[Donation, bool]:
    """Record a gift once, keyed by Luminate's transaction ID (its confirmation code).

    A gift seen again (the nightly file and the donation-form snippet both report it) is not stored twice;
    the second sighting only links the profile if the first had none, unless it is Luminate's sighting of a
    gift the donation form reported first: that replaces the report (:func:`_replace_reported_gift`). The
    profile keeps one billing address: the one of its newest gift (by ``donated_at``, which defaults to
    now), so a late-arriving older gift never overwrites it.

    Args:
        billing_address: keys among street1, street2, city, state, postal_code, country.

    Returns:
        ``(donation, created)``.

    Raises:
        DonationError: a missing transaction ID, an unknown address key, a bad amount or email.
    """
    transaction_id = str(transaction_id or "").strip()
    if not transaction_id:
        raise DonationError("Donation: transaction_id is empty; it identifies the gift and is required.")
    where = f"Donation {transaction_id}"
    if profile is not None:
        _check_organization(profile, organization.pk, "donation", transaction_id)
    address = _clean_billing_address(where, billing_address or {})
    try:
        email = normalize_email(donor_email)
    except ValueError:
        raise DonationError(f"{where}: donor_email {donor_email!r} is not a valid email address.") from None
    values = {
        "profile": profile,
        "form_id": str(form_id or "")[:32],
        "level_id": str(level_id or "")[:32],
        "donor_email": email,
        "amount": _clean_amount(where, amount),
        "donated_at": donated_at or timezone.now(),
        "channel": Channel(channel),
        **{f"billing_{key}": value for key, value in address.items()},
    }
    with transaction.atomic():
        donation = Donation.objects.filter(organization=organization, transaction_id=transaction_id).first()
        created = donation is None
        if created:
            try:
                with transaction.atomic():
                    donation = Donation.objects.create(
                        organization=organization, transaction_id=transaction_id, **values
                    )
            except IntegrityError:
                donation = Donation.objects.get(organization=organization, transaction_id=transaction_id)
                created = False
        if not created:
            if values["channel"] == Channel.LUMINATE and donation.channel == Channel.DONATION_FORM:
                return _replace_reported_gift(donation, values, keep_time=donated_at is None), False
            if profile is None or donation.profile_id is not None:
                return donation, False
            donation.profile = profile
            donation.save(update_fields=["profile"])
        if profile is not None and any(getattr(donation, f"billing_{key}") for key in BILLING_ADDRESS_KEYS):
            _keep_newest_billing_address(profile)
        return donation, created


def _replace_reported_gift(donation: Donation, values: dict[str, Any], *, keep_time: bool) -> Donation:
    """Luminate's record of a gift replaces what the donation form reported of it.

    The form's report is anyone's word (the snippet key that allows it is public), Luminate's is the gift
    as charged: its amount, form, level, email, billing address and channel win (a billing line Luminate
    leaves empty keeps the form's when the street lines agree). Its profile wins when it
    names one; the report's time stays unless Luminate gives one (``keep_time``). The profiles concerned
    get their billing address again from their newest gifts, so a forged address does not outlive the
    report that brought it.
    """
    reported_for = donation.profile
    # Luminate's record may carry only the street line: the lines it leaves empty keep what the form
    # typed when the street agrees, and go with the rest of the report when it does not.
    same_street = values["billing_street1"] == donation.billing_street1
    replacing = {
        name: value
        for name, value in values.items()
        if not (name == "profile" and value is None)
        and not (name == "donated_at" and keep_time)
        and not (same_street and name.startswith("billing_") and not value)
    }
    for name, value in replacing.items():
        setattr(donation, name, value)
    donation.save(update_fields=list(replacing))
    for profile in {reported_for, donation.profile} - {None}:
        _keep_newest_billing_address(profile)
    return donation


def _clean_billing_address(where: str, address: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(address) - set(BILLING_ADDRESS_KEYS))
    if unknown:
        raise DonationError(
            f"{where}: billing address key {unknown[0]!r} is not one of {', '.join(BILLING_ADDRESS_KEYS)}."
        )
    cleaned = {}
    for key in BILLING_ADDRESS_KEYS:
        value = "" if address.get(key) is None else str(address[key]).strip()
        max_length = Donation._meta.get_field(f"billing_{key}").max_length
        if len(value) > max_length:
            raise DonationError(f"{where}: billing {key} {value!r} is longer than {max_length} characters.")
        cleaned[key] = value
    return cleaned


def _clean_amount(where: str, amount) -> Decimal | None:
    if amount is None or amount == "":
        return None
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise DonationError(f"{where}: amount {amount!r} is not a number.") from None
    if not value.is_finite() or value < 0 or value >= Decimal("1e10"):
        raise DonationError(f"{where}: amount {amount!r} is not a valid gift amount.")
    return value.quantize(Decimal("0.01"))


def _has_address() -> Q:
    has = Q()
    for key in BILLING_ADDRESS_KEYS:
        has |= ~Q(**{f"billing_{key}": ""})
    return has


def _gifts_with_an_address_newest_first(profile: Profile):
    return (
        Donation.objects.filter(profile=profile)
        .filter(_has_address())
        .order_by(F("donated_at").desc(nulls_last=True), "-pk")
    )


def billing_address_confirmed(profile: Profile) -> bool:
    """Whether the profile's billing address is Luminate's word: the gift it came from (the newest with an
    address) was seen by the Luminate sync, not only reported by a donation form, whose key is public."""
    newest = _gifts_with_an_address_newest_first(profile).values_list("channel", flat=True).first()
    return newest == Channel.LUMINATE


def _keep_newest_billing_address(profile: Profile) -> None:
    """Give ``profile`` the billing address of its newest gift that has one (with no such gift, none)."""
    newest = _gifts_with_an_address_newest_first(profile).first()
    address = {f"billing_{key}": getattr(newest, f"billing_{key}", "") for key in BILLING_ADDRESS_KEYS}
    changed = [name for name, value in address.items() if getattr(profile, name) != value]
    for name in changed:
        setattr(profile, name, address[name])
    if changed:
        profile.save(update_fields=[*changed, "updated_at"])


def record_call(
    profile: Profile,
    *,
    alert_id: str,
    recipient_id: str = "",
    recipient_name: str = "",
    started_at: datetime,
    duration_seconds: int = 0,
    status: str = Call.Status.COMPLETED,
) -> Call:
    """Record a patch-through call ``profile`` made to a legislator for an action alert.

    Raises:
        CallError: a missing alert ID or start time, a negative duration or an unknown status.
    """
    alert_id = str(alert_id or "").strip()
    if not alert_id:
        raise CallError(f"Call by {profile.phone_number}: alert_id is empty; it is required.")
    where = f"Call by {profile.phone_number} for alert {alert_id}"
    if not isinstance(started_at, datetime) or timezone.is_naive(started_at):
        raise CallError(f"{where}: started_at {started_at!r} is not a date and time with a time zone.")
    try:
        duration = int(duration_seconds)
    except (TypeError, ValueError):
        duration = -1
    if duration < 0:
        raise CallError(
            f"{where}: duration_seconds {duration_seconds!r} is not a whole number of seconds ≥ 0."
        )
    if status not in Call.Status.values:
        raise CallError(f"{where}: status {status!r} is not one of {', '.join(Call.Status.values)}.")
    return Call.objects.create(
        organization_id=profile.organization_id,
        profile=profile,
        alert_id=alert_id[:32],
        recipient_id=str(recipient_id or "")[:64],
        recipient_name=str(recipient_name or "")[:255],
        started_at=started_at,
        duration_seconds=duration,
        status=status,
    )


# --- message wording -----------------------------------------------------------------------------------

_STOP_INSTRUCTION = re.compile(r"\bstop\b", re.IGNORECASE)
_HELP_INSTRUCTION = re.compile(r"\bhelp\b", re.IGNORECASE)


def compliance_warnings(text: str) -> list[str]:
    """Warnings for a welcome message or confirmation prompt that lacks the STOP and HELP instructions.

    Carriers expect every message that starts a subscription to say how to stop and how to get help.
    Empty text (no message) gives no warning.
    """
    if not (text or "").strip():
        return []
    warnings = []
    if not _STOP_INSTRUCTION.search(text):
        warnings.append('The message does not say how to stop messages (for example "Reply STOP to end").')
    if not _HELP_INSTRUCTION.search(text):
        warnings.append('The message does not say how to get help (for example "Reply HELP for help").')
    return warnings
