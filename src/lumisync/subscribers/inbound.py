"""What a text someone sends to the organization's number does, and the immediate replies to it."""

from __future__ import annotations

from lumisync.accounts.models import Organization
from lumisync.subscribers.models import Channel, OptInPath, Profile, Subscription
from lumisync.subscribers.phones import normalize_phone
from lumisync.subscribers.services import (
    ConsentResult,
    Outcome,
    confirm,
    get_or_create_profile,
    opt_in,
    opt_out,
    restart,
)

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
YES_WORDS = frozenset({"YES"})
# Answered before keywords are looked up, so a keyword path with one of these words would never match.
RESERVED_WORDS = STOP_WORDS | START_WORDS | HELP_WORDS | YES_WORDS

STOP_REPLY = "{organization}: you are unsubscribed and will get no more messages. Reply START to resubscribe."
HELP_REPLY = "{organization}: text alerts. Reply STOP to end, START to resume. Msg & data rates may apply."
SUBSCRIBED_REPLY = "{organization}: you are subscribed to {campaign}. Reply HELP for help, STOP to end."
ALREADY_SUBSCRIBED_REPLY = (
    "{organization}: you are already subscribed to {campaign}. Reply HELP for help, STOP to end."
)
CONFIRM_PENDING_REPLY = "{organization}: reply YES to confirm you want texts from {campaign}."
RESTARTED_REPLY = "{organization}: you will get our messages again. Reply HELP for help, STOP to end."
STILL_SUBSCRIBED_REPLY = "{organization}: you are still subscribed. Reply HELP for help, STOP to end."
NOTHING_TO_START_REPLY = "{organization}: you have no subscription to resume. Text a keyword to join."
NOTHING_TO_CONFIRM_REPLY = "{organization}: there is nothing waiting for your YES. Reply HELP for help."
UNKNOWN_REPLY = "{organization}: sorry, we did not recognise that message. Reply HELP for help."


def handle_inbound_text(organization: Organization, from_number: str, body: str) -> list[str]:
    """Act on a text from ``from_number`` and return the replies to send to it at once.

    STOP words opt the number out of everything (a number never seen before gets a profile, so that no
    later import can subscribe it); START and UNSTOP undo that; HELP answers; YES confirms pending
    subscriptions; the keyword of an active keyword path opts the number in. Welcome messages and
    confirmation prompts are not among the returned replies: the consent services queue them in the
    outbox as immediate replies. Other text gets an answer only from numbers with no active subscription,
    so that subscribers' conversational replies are not answered by a robot.

    Raises:
        InvalidPhoneNumber: ``from_number`` is not a valid phone number.
    """
    number = normalize_phone(from_number, organization.phone_region)
    text = " ".join((body or "").split()).strip(".!")
    word = text.upper()
    names = {"organization": organization.name}
    profile = Profile.objects.filter(organization=organization, phone_number=number).first()
    detail = f"Texted {text}"

    if word in STOP_WORDS:
        if profile is None:
            profile, _ = get_or_create_profile(
                organization, number, channel=Channel.SMS, source_detail=detail, require_mobile=False
            )
        opt_out(profile, channel=Channel.SMS, actor=number, source_detail=detail)
        return [STOP_REPLY.format(**names)]

    if word in HELP_WORDS:
        return [HELP_REPLY.format(**names)]

    if word in START_WORDS:
        result = restart(profile, actor=number, source_detail=detail) if profile is not None else None
        if result is not None and result.affected:
            # A welcome that had never gone out answers instead.
            return [] if result.messages else [RESTARTED_REPLY.format(**names)]
        return [_nothing_restarted_reply(profile, names)]

    if word in YES_WORDS:
        results = confirm(profile, actor=number, source_detail=detail) if profile else []
        if not results:
            return [NOTHING_TO_CONFIRM_REPLY.format(**names)]
        return [reply for result in results for reply in _replies_to(result, names)]

    path = (
        OptInPath.objects.filter(
            organization=organization, kind=OptInPath.Kind.KEYWORD, active=True, keyword__iexact=text
        )
        .select_related("campaign")
        .order_by("id")
        .first()
    )
    if path is not None:
        detail = f"Texted keyword {path.keyword}"
        if profile is None:
            profile, _ = get_or_create_profile(
                organization, number, channel=Channel.SMS, source_detail=detail, require_mobile=False
            )
        return _replies_to(
            opt_in(profile, path, channel=Channel.SMS, actor=number, source_detail=detail), names
        )

    if profile is not None and _has_active_subscription(profile):
        return []
    return [UNKNOWN_REPLY.format(**names)]


def _has_active_subscription(profile: Profile) -> bool:
    return profile.subscriptions.filter(status=Subscription.Status.ACTIVE).exists()


def _nothing_restarted_reply(profile: Profile | None, names: dict[str, str]) -> str:
    """The answer to a START that resumed no subscription: what the number still gets, or waits for."""
    if profile is None:
        return NOTHING_TO_START_REPLY.format(**names)
    if _has_active_subscription(profile):
        return STILL_SUBSCRIBED_REPLY.format(**names)
    pending = profile.subscriptions.filter(status=Subscription.Status.PENDING).order_by("campaign__name")
    campaigns = ", ".join(pending.values_list("campaign__name", flat=True))
    if campaigns:
        return CONFIRM_PENDING_REPLY.format(**names, campaign=campaigns)
    return NOTHING_TO_START_REPLY.format(**names)


def _replies_to(result: ConsentResult, names: dict[str, str]) -> list[str]:
    """A short answer when the outbox has nothing queued that already answers the text."""
    if result.messages:
        return []
    campaign = {"campaign": result.subscription.campaign.name} if result.subscription else {"campaign": ""}
    templates = {
        Outcome.ACTIVATED: SUBSCRIBED_REPLY,
        Outcome.ALREADY_ACTIVE: ALREADY_SUBSCRIBED_REPLY,
        Outcome.ALREADY_PENDING: CONFIRM_PENDING_REPLY,
    }
    template = templates.get(result.outcome)
    return [template.format(**names, **campaign)] if template else []
