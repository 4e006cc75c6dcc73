"""Delivery errors that say a number cannot take texts change the profile's status, never its consent."""

from __future__ import annotations

import logging

import pytest

from lumisync.messaging.deliverability import SOFT_BOUNCE_LIMIT, Verdict, verdict
from lumisync.messaging.models import Message
from lumisync.messaging.services import queue_message, record_delivery_status, send_due_messages
from lumisync.subscribers.models import ConsentEvent, ProfileStatus, Subscription

pytestmark = pytest.mark.django_db

DELIVERED, UNDELIVERED, FAILED = "delivered", "undelivered", "failed"


@pytest.fixture
def subscriber(profile, make_subscription):
    make_subscription(profile)
    profile.status = ProfileStatus.ACTIVE
    profile.save()
    return profile


def send(profile, body: str = "Rally at noon") -> Message:
    """A broadcast the fake provider accepted."""
    message = queue_message(profile, body, kind=Message.Kind.BROADCAST, reply=True)
    assert send_due_messages(profile=profile).sent == 1
    message.refresh_from_db()
    return message


def receipt(message: Message, status: str, code: str = "") -> None:
    assert record_delivery_status(message, message.provider_sid, status, code)


def status_of(profile) -> str:
    profile.refresh_from_db()
    return profile.status


def assert_consent_untouched(profile) -> None:
    assert profile.opted_out_at is None
    assert set(profile.subscriptions.values_list("status", flat=True)) == {Subscription.Status.ACTIVE}
    assert not ConsentEvent.objects.filter(profile=profile).exists()


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([], None),
        ([(DELIVERED, "")], Verdict.DELIVERABLE),
        ([(FAILED, "21211")], Verdict.UNDELIVERABLE),
        ([(FAILED, "21614")], Verdict.UNDELIVERABLE),
        ([(UNDELIVERED, "30005")], Verdict.UNDELIVERABLE),
        ([(UNDELIVERED, "30006")], Verdict.UNDELIVERABLE),
        ([(UNDELIVERED, "30003")] * (SOFT_BOUNCE_LIMIT - 1), None),
        ([(UNDELIVERED, "30003")] * SOFT_BOUNCE_LIMIT, Verdict.HARD_BOUNCE),
        # Failures that say nothing about the number neither count nor break a run of soft bounces.
        ([(UNDELIVERED, "30007"), (FAILED, ""), (UNDELIVERED, "30008")], None),
        ([(UNDELIVERED, "30003"), (UNDELIVERED, "30007")] * SOFT_BOUNCE_LIMIT, Verdict.HARD_BOUNCE),
        # The newest decisive outcome wins.
        ([(UNDELIVERED, "30003"), (DELIVERED, ""), (UNDELIVERED, "30003")], Verdict.DELIVERABLE),
        ([(DELIVERED, ""), (FAILED, "21211")], Verdict.DELIVERABLE),
        ([(UNDELIVERED, "30006"), (DELIVERED, "")], Verdict.UNDELIVERABLE),
    ],
)
def test_verdict(outcomes, expected):
    assert verdict(outcomes) is expected


@pytest.mark.parametrize("code", ["21211", "21614"])
def test_provider_refusing_the_number_marks_it_undeliverable(twilio, fake_provider, subscriber, code, caplog):
    caplog.set_level(logging.INFO)
    fake_provider.fail_next(400, code=int(code), message="The 'To' number cannot receive this message.")
    message = queue_message(subscriber, "Rally at noon", kind=Message.Kind.BROADCAST, reply=True)
    assert send_due_messages().failed == 1
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Message.Status.FAILED, code)
    assert status_of(subscriber) == ProfileStatus.UNDELIVERABLE
    assert_consent_untouched(subscriber)
    assert (
        f"Profile {subscriber.pk} (+12*******43): status Active Subscriber -> Undeliverable after SMS message "
        f"{message.pk} was failed (provider error {code})"
    ) in caplog.text


@pytest.mark.parametrize("code", ["30005", "30006"])
def test_receipt_with_a_hard_error_marks_it_undeliverable(twilio, subscriber, code):
    receipt(send(subscriber), UNDELIVERED, code)
    assert status_of(subscriber) == ProfileStatus.UNDELIVERABLE
    assert_consent_untouched(subscriber)


def test_unreachable_handset_bounces_only_when_it_repeats(twilio, subscriber):
    for _ in range(SOFT_BOUNCE_LIMIT - 1):
        receipt(send(subscriber), UNDELIVERED, "30003")
        assert status_of(subscriber) == ProfileStatus.ACTIVE
    receipt(send(subscriber), FAILED, "30003")
    assert status_of(subscriber) == ProfileStatus.HARD_BOUNCE
    assert_consent_untouched(subscriber)


def test_a_delivery_breaks_a_run_of_soft_bounces(twilio, subscriber):
    receipt(send(subscriber), UNDELIVERED, "30003")
    receipt(send(subscriber), DELIVERED)
    for _ in range(SOFT_BOUNCE_LIMIT - 1):
        receipt(send(subscriber), UNDELIVERED, "30003")
    assert status_of(subscriber) == ProfileStatus.ACTIVE


def test_failures_that_say_nothing_about_the_number_change_nothing(twilio, fake_provider, subscriber):
    receipt(send(subscriber), UNDELIVERED, "30007")
    fake_provider.fail_next(400, code=21408, message="Permission to send an SMS has not been enabled")
    queue_message(subscriber, "Rally at noon", kind=Message.Kind.BROADCAST, reply=True)
    assert send_due_messages().failed == 1
    assert status_of(subscriber) == ProfileStatus.ACTIVE


def test_a_later_delivery_restores_the_status_consent_gives(twilio, subscriber, caplog):
    receipt(send(subscriber), UNDELIVERED, "30005")
    assert status_of(subscriber) == ProfileStatus.UNDELIVERABLE
    caplog.set_level(logging.INFO)
    later = send(subscriber)
    receipt(later, DELIVERED)
    assert status_of(subscriber) == ProfileStatus.ACTIVE
    assert_consent_untouched(subscriber)
    assert (
        f"status Undeliverable -> Active Subscriber after SMS message {later.pk} was delivered" in caplog.text
    )


def test_a_restored_profile_without_subscriptions_has_none(twilio, profile):
    receipt(send(profile), UNDELIVERED, "30006")
    receipt(send(profile), DELIVERED)
    assert status_of(profile) == ProfileStatus.NO_SUBSCRIPTIONS
    assert not profile.subscriptions.exists()


def test_a_late_receipt_for_an_older_message_does_not_lift_the_status(twilio, subscriber):
    older = send(subscriber)
    receipt(send(subscriber), UNDELIVERED, "21211")
    receipt(older, DELIVERED)
    assert status_of(subscriber) == ProfileStatus.UNDELIVERABLE


def test_a_profile_that_texted_stop_keeps_that_status(twilio, fake_provider, make_profile):
    stopped = make_profile("+12125550177", opted_out_at="2026-01-05T10:00:00Z", status=ProfileStatus.STOPPED)
    fake_provider.fail_next(400, code=21211, message="The 'To' number is not valid.")
    queue_message(stopped, "You are unsubscribed.", kind=Message.Kind.REPLY, reply=True)
    assert send_due_messages().failed == 1
    assert status_of(stopped) == ProfileStatus.STOPPED


def test_receipts_through_the_webhook_mark_the_profile(client, twilio, subscriber):
    from test_sms_webhooks import post_signed

    message = send(subscriber)
    params = {"MessageSid": message.provider_sid, "MessageStatus": "undelivered", "ErrorCode": "30006"}
    assert post_signed(client, f"/sms/status/{message.pk}/", params).status_code == 204
    assert status_of(subscriber) == ProfileStatus.UNDELIVERABLE
