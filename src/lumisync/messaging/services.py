"""The outbox: queue a text for its sending window, then deliver what is due through the backend.

Sending is at-least-once for transient failures (a timeout may have reached the provider) and at most once
otherwise: a message is claimed before it is sent, and each sender re-checks its claim before talking to
the provider, so two workers never send the same row.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from lumisync.core import bulk
from lumisync.messaging import conf, deliverability
from lumisync.messaging.backends import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    get_backend,
    mask_number,
)
from lumisync.messaging.models import Message
from lumisync.messaging.window import next_send_time, recipient_zone, zone_or
from lumisync.subscribers.models import Profile, Subscription

logger = logging.getLogger(__name__)

# Asked of every message a sync queues; the enum builds its list of values on every read.
_KINDS = frozenset(Message.Kind.values)

MAX_BODY_LENGTH = 1600  # the longest body a Twilio-compatible API accepts (it splits it into segments)
CLAIM_LEASE = dt.timedelta(minutes=15)
RETRY_BASE = dt.timedelta(minutes=1)
RETRY_CAP = dt.timedelta(hours=1)


def send_time_for(profile: Profile, now: dt.datetime, zone_name: str | None = None) -> dt.datetime:
    """The first moment at or after ``now`` inside the organization's sending window, in the recipient's
    local time; ``zone_name`` is the recipient's zone when the caller already read it from the number
    (:func:`~lumisync.subscribers.phones.read_mobile`; "" for none)."""
    organization = profile.organization
    if zone_name is None:
        zone = recipient_zone(profile.phone_number, organization.zone)
    else:
        zone = zone_or(zone_name, organization.zone)
    return next_send_time(
        now, zone, _as_time(organization.sending_window_start), _as_time(organization.sending_window_end)
    )


def _as_time(value: dt.time | str) -> dt.time:
    # An unsaved or freshly created Organization still holds the field default as a string.
    return value if isinstance(value, dt.time) else dt.time.fromisoformat(value)


def queue_message(
    profile: Profile,
    body: str,
    *,
    kind: str,
    subscription: Subscription | None = None,
    reply: bool = False,
) -> Message:
    """Put a text to ``profile`` in the outbox.

    It waits for the sending window in the recipient's local time, unless ``reply`` says it answers a text
    the person just sent (STOP/HELP confirmations, keyword answers), which goes at once. Consent and
    the window are checked again when it is sent.
    """
    message = new_message(profile, body, kind=kind, subscription=subscription, reply=reply)
    message.save(force_insert=True)
    return message


def new_message(
    profile: Profile,
    body: str,
    *,
    kind: str,
    subscription: Subscription | None = None,
    reply: bool = False,
    now: dt.datetime | None = None,
    zone_name: str | None = None,
) -> Message:
    """The outbox row :func:`queue_message` stores, checked but not saved, for ``bulk_create``;
    ``zone_name`` as for :func:`send_time_for`.

    Raises:
        ValueError: an unknown kind, an empty or too long body, or another profile's subscription; the
            message names the profile.
    """
    if kind not in _KINDS:
        raise ValueError(
            f"Message to profile {profile.pk} ({mask_number(profile.phone_number)}): kind {kind!r} is not one "
            f"of {', '.join(Message.Kind.values)}."
        )
    if not body or not body.strip():
        raise ValueError(f"Message to profile {profile.pk} ({kind}): the body is empty.")
    if len(body) > MAX_BODY_LENGTH:
        raise ValueError(
            f"Message to profile {profile.pk} ({kind}): the body is {len(body)} characters, "
            f"over the limit of {MAX_BODY_LENGTH}."
        )
    if subscription is not None and subscription.profile_id != profile.pk:
        raise ValueError(
            f"Message to profile {profile.pk} ({kind}): subscription {subscription.pk} belongs to "
            f"profile {subscription.profile_id}."
        )
    now = now or timezone.now()
    return bulk.new(
        Message,
        organization_id=profile.organization_id,
        profile=profile,
        subscription=subscription,
        kind=kind,
        body=body,
        is_reply=reply,
        not_before=now if reply else send_time_for(profile, now, zone_name),
    )


@dataclass
class SendSummary:
    """What one pass over the outbox did."""

    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    retried: int = 0
    deferred: int = 0
    released: int = 0

    @property
    def claimed(self) -> int:
        return self.sent + self.failed + self.cancelled + self.retried + self.deferred

    def __str__(self) -> str:
        return (
            f"{self.sent} sent, {self.failed} failed, {self.cancelled} cancelled, {self.retried} to retry"
            + (f", {self.deferred} put back until the sending window" if self.deferred else "")
            + (f", {self.released} released from an interrupted sender" if self.released else "")
        )


def send_due_messages(
    now: dt.datetime | None = None, limit: int = 100, *, profile: Profile | None = None
) -> SendSummary:
    """Claim up to ``limit`` queued messages whose time has come (only ``profile``'s, if given), re-check
    consent and the sending window, and deliver them through the configured backend.

    ``now`` stands in for the clock for the whole pass; without it the clock is read again for each
    message, since a pass held up by a slow provider may run past the end of a sending window.
    """
    # Resolved before claiming, so a misconfigured backend leaves nothing claimed and unsent.
    backend = get_backend()
    try:
        claim_time = now or timezone.now()
        summary = SendSummary(released=_release_stale_claims(claim_time))
        for message_id, claimed_at in _claim(claim_time, limit, profile):
            _send_one(message_id, claimed_at, backend, summary, now)
    finally:
        backend.close()
    return summary


def _release_stale_claims(now: dt.datetime) -> int:
    """Put back messages a crashed sender claimed long ago; they count the attempt already made."""
    return Message.objects.filter(status=Message.Status.SENDING, claimed_at__lt=now - CLAIM_LEASE).update(
        status=Message.Status.QUEUED, claimed_at=None
    )


def _claim(now: dt.datetime, limit: int, profile: Profile | None) -> list[tuple[int, dt.datetime]]:
    claimed_at = timezone.now()
    with transaction.atomic():
        due = Message.objects.filter(status=Message.Status.QUEUED, not_before__lte=now)
        if profile is not None:
            due = due.filter(profile=profile)
        due = due.order_by("not_before", "id")
        # PostgreSQL: rows another worker holds are skipped; SQLite: the IMMEDIATE transaction already
        # holds the database write lock, so a second worker waits here and then sees them claimed.
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[:limit])
        Message.objects.filter(id__in=ids).update(
            status=Message.Status.SENDING, claimed_at=claimed_at, attempts=F("attempts") + 1
        )
    return [(message_id, claimed_at) for message_id in ids]


def _still_ours(message_id: int, claimed_at: dt.datetime) -> dt.datetime | None:
    """Renew the claim just before sending; None when another sender has taken the message since."""
    renewed = timezone.now()
    taken = Message.objects.filter(
        id=message_id, status=Message.Status.SENDING, claimed_at=claimed_at
    ).update(claimed_at=renewed)
    return renewed if taken else None


def _send_one(
    message_id: int, claimed_at: dt.datetime, backend, summary: SendSummary, now: dt.datetime | None
) -> None:
    claimed_at = _still_ours(message_id, claimed_at)
    if claimed_at is None:
        return
    message = Message.objects.select_related("organization", "profile__organization", "subscription").get(
        id=message_id
    )
    ours = Message.objects.filter(id=message_id, status=Message.Status.SENDING, claimed_at=claimed_at)
    reason = consent_problem(message)
    if reason:
        ours.update(status=Message.Status.CANCELLED, error=reason, claimed_at=None)
        logger.info("SMS message %s (%s) cancelled: %s", message.pk, message.kind, reason)
        summary.cancelled += 1
        return
    window_opens = _window_opens_later(message, now or timezone.now())
    if window_opens is not None:
        # Not sending now is no failed attempt: the claim's count is handed back with the message.
        ours.update(
            status=Message.Status.QUEUED,
            not_before=window_opens,
            claimed_at=None,
            attempts=F("attempts") - 1,
        )
        logger.info(
            "SMS message %s (%s) to %s put back until its sending window opens at %s",
            message.pk,
            message.kind,
            mask_number(message.profile.phone_number),
            window_opens.isoformat(),
        )
        summary.deferred += 1
        return
    try:
        accepted = backend.send(message, status_callback=status_callback_url(message))
    except PermanentDeliveryError as exc:
        ours.update(status=Message.Status.FAILED, error=str(exc), error_code=exc.code, claimed_at=None)
        logger.warning("SMS message %s (%s) failed: %s", message.pk, message.kind, exc)
        summary.failed += 1
        # The provider may refuse the number itself at once (21211, 21614), not only in a later receipt.
        deliverability.recheck_profile(message, Message.Status.FAILED, exc.code)
        return
    except DeliveryError as exc:
        _retry_or_give_up(message, ours, exc, summary)
        return
    except Exception as exc:
        # A fault in a backend must not strand the rest of the batch; the traceback goes to the log only.
        logger.exception("SMS message %s (%s): unexpected error while sending", message.pk, message.kind)
        unexpected = TransientDeliveryError(
            f"Unexpected {type(exc).__name__} while sending; see the server log."
        )
        _retry_or_give_up(message, ours, unexpected, summary)
        return
    sent_at = timezone.now()
    Message.objects.filter(id=message_id).update(
        provider_sid=accepted.provider_sid, sent_at=sent_at, error="", error_code="", claimed_at=None
    )
    # A delivery receipt may already have moved it past "sent"; only a message still being sent becomes so.
    Message.objects.filter(id=message_id, status=Message.Status.SENDING).update(status=Message.Status.SENT)
    logger.info(
        "SMS message %s (%s) to %s accepted as %s",
        message.pk,
        message.kind,
        mask_number(message.profile.phone_number),
        accepted.provider_sid,
    )
    summary.sent += 1


def _window_opens_later(message: Message, moment: dt.datetime) -> dt.datetime | None:
    """When the recipient's sending window next opens, if ``moment`` is outside it; None when the message
    may go now.

    The time a message was queued for says nothing about when it is sent: a sender that was down, a
    backlog longer than the day's window, a crashed sender's released claim or a window narrowed since
    would otherwise text people at night. Replies answer a text the person just sent and go at any hour.
    """
    if message.is_reply:
        return None
    opens = send_time_for(message.profile, moment)
    return opens if opens > moment else None


def _retry_or_give_up(message: Message, ours, exc: DeliveryError, summary: SendSummary) -> None:
    attempts = message.attempts
    if attempts >= conf.max_attempts():
        ours.update(
            status=Message.Status.FAILED,
            error=f"Gave up after {attempts} attempts: {exc}",
            error_code=exc.code,
            claimed_at=None,
        )
        logger.warning(
            "SMS message %s (%s) given up after %s attempts: %s", message.pk, message.kind, attempts, exc
        )
        summary.failed += 1
        return
    delay = min(RETRY_BASE * 2 ** (attempts - 1), RETRY_CAP)
    # Jitter spreads the retries of a batch that failed together (one provider outage) over time.
    retry_at = timezone.now() + delay * random.uniform(1.0, 1.25)
    if not message.is_reply:
        retry_at = send_time_for(message.profile, retry_at)
    ours.update(
        status=Message.Status.QUEUED,
        not_before=retry_at,
        error=str(exc),
        error_code=exc.code,
        claimed_at=None,
    )
    logger.warning(
        "SMS message %s (%s) attempt %s failed, retrying at %s: %s",
        message.pk,
        message.kind,
        attempts,
        retry_at.isoformat(),
        exc,
    )
    summary.retried += 1


def consent_problem(message: Message) -> str:
    """Why ``message`` may no longer be sent, or "" when it may.

    Replies always go: the person just texted, and a STOP confirmation is due precisely after the opt-out.
    A confirmation prompt for a pending subscription goes too, even to a number that texted STOP: it is
    the one way a web form or API opt-in for such a number can become a subscription (on the person's YES).
    """
    if message.kind == Message.Kind.REPLY:
        return ""
    profile = message.profile
    subscription = message.subscription
    confirming = (
        message.kind == Message.Kind.CONFIRMATION
        and subscription is not None
        and subscription.status == Subscription.Status.PENDING
    )
    if profile.is_globally_opted_out and not confirming:
        return f"Profile {profile.pk} opted out of all messages at {profile.opted_out_at.isoformat()}."
    if subscription is None:
        return ""
    wanted = {
        Message.Kind.CONFIRMATION: {Subscription.Status.PENDING},
        Message.Kind.WELCOME: {Subscription.Status.ACTIVE},
        Message.Kind.BROADCAST: {Subscription.Status.ACTIVE},
    }[message.kind]
    if subscription.status not in wanted:
        return (
            f"Subscription {subscription.pk} to campaign {subscription.campaign_id} is "
            f"{subscription.get_status_display().lower()}, not "
            f"{' or '.join(sorted(str(status) for status in wanted))}."
        )
    return ""


def status_callback_url(message: Message) -> str | None:
    root = conf.public_url()
    if not root:
        return None
    return root + reverse("messaging:status_callback", args=[message.pk])


# The provider's message states, mapped onto ours; states it passes through before "sent" change nothing.
PROVIDER_STATUSES = {
    "sent": Message.Status.SENT,
    "delivered": Message.Status.DELIVERED,
    "read": Message.Status.DELIVERED,
    "undelivered": Message.Status.UNDELIVERED,
    "failed": Message.Status.FAILED,
    "canceled": Message.Status.FAILED,
}
INTERIM_PROVIDER_STATUSES = {"accepted", "scheduled", "queued", "sending"}
FINAL_STATUSES = {Message.Status.DELIVERED, Message.Status.UNDELIVERED, Message.Status.FAILED}


def record_delivery_status(
    message: Message, provider_sid: str, provider_status: str, error_code: str = ""
) -> bool:
    """Apply a delivery receipt; True when the message changed.

    Receipts can arrive out of order (a late "sent" after "delivered"), so a final state is never replaced.
    A final state may change the profile's status (see :mod:`lumisync.messaging.deliverability`).
    """
    status = PROVIDER_STATUSES.get(provider_status)
    if status is None:
        if provider_status not in INTERIM_PROVIDER_STATUSES:
            logger.warning("SMS message %s: unknown provider status %r ignored", message.pk, provider_status)
        return False
    if message.provider_sid and provider_sid and message.provider_sid != provider_sid:
        raise ValueError(
            f"Message {message.pk}: receipt for provider sid {provider_sid!r}, but it was sent as "
            f"{message.provider_sid!r}."
        )
    if message.status in FINAL_STATUSES or message.status == Message.Status.CANCELLED:
        return False
    changes = {"status": status}
    if provider_sid and not message.provider_sid:
        changes["provider_sid"] = provider_sid
    if status in (Message.Status.UNDELIVERED, Message.Status.FAILED):
        changes["error_code"] = error_code
        changes["error"] = f"The provider reported the message {provider_status}" + (
            f" (error {error_code})." if error_code else "."
        )
    else:
        # An earlier attempt's error (a timeout the provider in fact survived) no longer describes it.
        changes.update(error="", error_code="")
    updated = Message.objects.filter(id=message.pk, status=message.status).update(**changes)
    if updated and status in FINAL_STATUSES:
        deliverability.recheck_profile(message, status, changes.get("error_code", ""))
    return bool(updated)
