"""Whether a profile's number can receive texts, judged from what the provider said about its messages.

Only the profile's status changes here; consent (subscriptions, the global opt-out) never does, so no
delivery outcome ever subscribes or unsubscribes anyone.

The rules:

* A hard failure is the provider or the carrier saying that the number itself cannot take texts:
  21211 (invalid 'To'), 21614 (not a mobile number), 30005 (unknown destination), 30006 (landline or
  unreachable carrier). One is enough: the profile becomes Undeliverable.
* A soft failure, 30003 (unreachable handset), also happens to a phone that is switched off or out of
  coverage for a day, so one changes nothing. ``SOFT_BOUNCE_LIMIT`` of them in a row, with no delivery in
  between, make the profile Hard bounce: it is not known to be unusable, it just keeps bouncing (the way
  Mobile Commons cleans a profile after consecutive soft bounces but after a single hard one).
* Any other failure (content filtered, an account problem, a provider fault) says nothing about the number
  and is passed over.
* A delivery proves the number works: a profile marked Undeliverable or Hard bounce goes back to what its
  consent says (Active Subscriber or No Subscriptions), and the change is logged. Its subscriptions stay as
  they are, so nothing is re-subscribed by it.
* "Texted a STOP word" is about consent and outranks all of this; such a profile is left alone.

The verdict reads the profile's latest decided messages newest first, so a receipt arriving late for an
older message cannot overrule what a newer one showed.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable

from django.db import transaction

from lumisync.messaging.backends import mask_number
from lumisync.messaging.models import Message
from lumisync.subscribers import services as subscribers
from lumisync.subscribers.models import DELIVERY_STATUSES, Profile, ProfileStatus

logger = logging.getLogger(__name__)

HARD_FAILURE_CODES = frozenset({"21211", "21614", "30005", "30006"})
SOFT_FAILURE_CODES = frozenset({"30003"})
SOFT_BOUNCE_LIMIT = 3
DECIDED_STATUSES = (Message.Status.DELIVERED, Message.Status.UNDELIVERED, Message.Status.FAILED)
# Enough history for any verdict: a delivery or a hard failure decides at once, and soft failures are
# counted only up to the limit; the other failures in between are the only thing this bounds.
HISTORY = 50


class Verdict(enum.Enum):
    DELIVERABLE = "deliverable"
    UNDELIVERABLE = ProfileStatus.UNDELIVERABLE
    HARD_BOUNCE = ProfileStatus.HARD_BOUNCE


def verdict(outcomes: Iterable[tuple[str, str]]) -> Verdict | None:
    """What the ``(message status, provider error code)`` pairs, newest first, say about the number;
    None when they say nothing."""
    soft = 0
    for status, code in outcomes:
        if status == Message.Status.DELIVERED:
            return Verdict.DELIVERABLE
        if code in HARD_FAILURE_CODES:
            return Verdict.UNDELIVERABLE
        if code in SOFT_FAILURE_CODES:
            soft += 1
            if soft >= SOFT_BOUNCE_LIMIT:
                return Verdict.HARD_BOUNCE
    return None


def recheck_profile(message: Message, status: str, error_code: str = "") -> str | None:
    """Update the status of the profile ``message`` went to, now that the message is ``status`` (delivered,
    undelivered or failed, with the provider's ``error_code``); return the profile's new status, or None
    when it did not change."""
    if status == Message.Status.DELIVERED and not (
        Profile.objects.filter(pk=message.profile_id, status__in=DELIVERY_STATUSES).exists()
    ):
        # The common case: a delivery to a number nobody doubted.
        return None
    with transaction.atomic():
        # The same row lock as consent changes, so a STOP and a bounce cannot overwrite each other.
        profile = Profile.objects.select_for_update().get(pk=message.profile_id)
        if profile.is_globally_opted_out:
            return None
        outcomes = (
            Message.objects.filter(profile_id=profile.pk, status__in=DECIDED_STATUSES)
            .order_by("-id")
            .values_list("status", "error_code")[:HISTORY]
        )
        found = verdict(outcomes)
        if found is None:
            return None
        if found is Verdict.DELIVERABLE:
            if profile.status not in DELIVERY_STATUSES:
                return None
            new_status = subscribers.consent_status(profile)
        else:
            new_status = found.value
        if new_status == profile.status:
            return None
        before = profile.get_status_display()
        profile.status = new_status
        profile.save(update_fields=["status", "updated_at"])
    logger.info(
        "Profile %s (%s): status %s -> %s after SMS message %s was %s%s",
        profile.pk,
        mask_number(profile.phone_number),
        before,
        profile.get_status_display(),
        message.pk,
        status,
        f" (provider error {error_code})" if error_code else "",
    )
    return new_status
