"""Sending what is due: claims, the consent check at the moment of sending, the log backend."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from lumisync.messaging.backends import Accepted
from lumisync.messaging.models import Message
from lumisync.messaging.services import consent_problem, queue_message, send_due_messages
from lumisync.subscribers import services as consent
from lumisync.subscribers.models import Campaign, Channel, OptInPath, ProfileStatus, Subscription

pytestmark = pytest.mark.django_db


def due(profile, body="Hello", *, kind="broadcast", subscription=None) -> Message:
    message = queue_message(profile, body, kind=kind, subscription=subscription, reply=True)
    assert message.not_before <= timezone.now()
    return message


def opt_out_everywhere(profile) -> None:
    # What a STOP leaves on the profile; set directly so these tests do not depend on the consent rules.
    profile.opted_out_at = timezone.now()
    profile.opted_out_source = "sms: STOP"
    profile.status = ProfileStatus.STOPPED
    profile.save()


def test_log_backend_sends_due_message_and_masks_the_number(profile, caplog):
    message = due(profile, "Rally at noon", kind="broadcast")
    caplog.set_level(logging.INFO, logger="lumisync.messaging")
    summary = send_due_messages()
    message.refresh_from_db()
    assert (summary.sent, summary.claimed) == (1, 1)
    assert message.status == Message.Status.SENT
    assert message.sent_at is not None
    assert message.provider_sid.startswith("LG")
    assert message.attempts == 1
    assert f"SMS message {message.pk} (broadcast)" in caplog.text
    assert "Rally at noon" in caplog.text
    assert profile.phone_number not in caplog.text
    assert "+12*******43" in caplog.text


def test_message_not_yet_due_stays_queued(profile):
    # Noon in New York, so that the sending window is open three hours later too.
    with time_machine.travel(dt.datetime(2026, 6, 11, 16, 0, tzinfo=dt.UTC), tick=False):
        message = queue_message(profile, "Tomorrow", kind="broadcast")
        message.not_before = timezone.now() + dt.timedelta(hours=3)
        message.save()
        assert send_due_messages().claimed == 0
        message.refresh_from_db()
        assert message.status == Message.Status.QUEUED
        assert message.attempts == 0
        assert send_due_messages(now=timezone.now() + dt.timedelta(hours=3)).sent == 1


def test_oldest_due_first_and_limit_respected(make_profile):
    first = due(make_profile("+12125550101"))
    second = due(make_profile("+12125550102"))
    Message.objects.filter(pk=second.pk).update(not_before=first.not_before - dt.timedelta(minutes=5))
    assert send_due_messages(limit=1).sent == 1
    assert Message.objects.get(pk=second.pk).status == Message.Status.SENT
    assert Message.objects.get(pk=first.pk).status == Message.Status.QUEUED


def test_welcome_to_a_profile_that_opted_out_meanwhile_is_cancelled(profile, make_subscription):
    subscription = make_subscription(profile)
    message = queue_message(profile, "Welcome!", kind="welcome", subscription=subscription)
    opt_out_everywhere(profile)
    summary = send_due_messages(now=message.not_before)
    message.refresh_from_db()
    assert summary.cancelled == 1 and summary.sent == 0
    assert message.status == Message.Status.CANCELLED
    assert message.sent_at is None
    assert f"Profile {profile.pk} opted out of all messages" in message.error


def test_reply_to_stop_still_goes_to_an_opted_out_profile(profile):
    opt_out_everywhere(profile)
    message = queue_message(profile, "You are unsubscribed. No more messages.", kind="reply", reply=True)
    assert send_due_messages().sent == 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT


@pytest.mark.parametrize(
    ("kind", "subscription_status", "sent"),
    [
        ("broadcast", Subscription.Status.ACTIVE, True),
        ("broadcast", Subscription.Status.OPTED_OUT, False),
        ("welcome", Subscription.Status.PENDING, False),
        ("confirmation", Subscription.Status.PENDING, True),
        ("confirmation", Subscription.Status.ACTIVE, False),
    ],
)
def test_subscription_state_at_sending(profile, make_subscription, kind, subscription_status, sent):
    subscription = make_subscription(profile, Subscription.Status.ACTIVE)
    message = due(profile, kind=kind, subscription=subscription)
    Subscription.objects.filter(pk=subscription.pk).update(status=subscription_status)
    send_due_messages()
    message.refresh_from_db()
    if sent:
        assert message.status == Message.Status.SENT
    else:
        assert message.status == Message.Status.CANCELLED
        assert f"Subscription {subscription.pk}" in message.error


def test_message_claimed_by_another_sender_is_left_alone(profile):
    message = due(profile)
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENDING, claimed_at=timezone.now(), attempts=1
    )
    assert send_due_messages().claimed == 0
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Message.Status.SENDING, 1)


def test_claim_of_a_crashed_sender_is_released_and_sent(profile):
    message = due(profile)
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENDING, claimed_at=timezone.now() - dt.timedelta(hours=1), attempts=1
    )
    summary = send_due_messages()
    message.refresh_from_db()
    assert (summary.released, summary.sent) == (1, 1)
    assert (message.status, message.attempts) == (Message.Status.SENT, 2)


def test_send_messages_command_reports_the_pass(profile, capsys):
    message = due(profile)
    call_command("send_messages")
    assert "1 sent, 0 failed, 0 cancelled, 0 to retry" in capsys.readouterr().out
    message.refresh_from_db()
    assert message.status == Message.Status.SENT


def test_send_messages_command_refuses_bad_arguments():
    with pytest.raises(CommandError, match="--loop must be a positive number of seconds, got 0.0"):
        call_command("send_messages", "--loop", "0")
    with pytest.raises(CommandError, match="--limit must be at least 1, got 0"):
        call_command("send_messages", "--limit", "0")


def test_opt_out_through_the_consent_services_cancels_the_night_welcome(organization, profile):
    from lumisync.subscribers.models import Campaign, Channel, OptInPath
    from lumisync.subscribers.services import opt_in, opt_out

    campaign = Campaign.objects.create(organization=organization, name="River alerts")
    path = OptInPath.objects.create(
        organization=organization,
        campaign=campaign,
        name="Web form",
        welcome_message="Welcome to River alerts!",
    )
    night = dt.datetime(2026, 6, 11, 3, 0, tzinfo=dt.UTC)  # 23:00 in New York
    with time_machine.travel(night, tick=False):
        opt_in(profile, path, channel=Channel.WEB, source_detail="Signup form")
    [welcome] = Message.objects.filter(profile=profile)
    assert (welcome.kind, welcome.not_before) == ("welcome", dt.datetime(2026, 6, 11, 13, 0, tzinfo=dt.UTC))
    assert send_due_messages(now=night).claimed == 0

    opt_out(profile, channel=Channel.SMS, source_detail="Texted STOP")
    summary = send_due_messages(now=welcome.not_before)
    welcome.refresh_from_db()
    assert summary.cancelled == 1
    assert welcome.status == Message.Status.CANCELLED
    assert f"Profile {profile.pk} opted out of all messages" in welcome.error


class BrokenBackend:
    """A backend with a bug: it raises something no backend should."""

    def send(self, message, *, status_callback):
        raise RuntimeError("bug in a backend")

    def close(self):
        pass


def test_backend_fault_is_retried_and_does_not_stop_the_batch(make_profile, settings):
    settings.LUMISYNC_SMS_BACKEND = "test_sms_outbox.BrokenBackend"
    first, second = due(make_profile("+12125550101")), due(make_profile("+12125550102"))
    summary = send_due_messages()
    assert summary.retried == 2
    for message in (first, second):
        message.refresh_from_db()
        assert message.status == Message.Status.QUEUED
        assert message.error == "Unexpected RuntimeError while sending; see the server log."


def test_unknown_backend_name_is_refused(profile, settings):
    settings.LUMISYNC_SMS_BACKEND = "carrier-pigeon"
    message = due(profile)
    with pytest.raises(ValueError, match="LUMISYNC_SMS_BACKEND is 'carrier-pigeon': use one of log, twilio"):
        send_due_messages()
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Message.Status.QUEUED, 0)


class StopAfterSendingBackend:
    """Delivers like the log backend, then asks the sender to stop, as a service manager would."""

    def send(self, message, *, status_callback):
        os.kill(os.getpid(), signal.SIGTERM)
        return Accepted(provider_sid=f"TEST{message.pk}")

    def close(self):
        pass


def test_looping_sender_finishes_its_pass_on_sigterm(make_profile, settings, capsys):
    settings.LUMISYNC_SMS_BACKEND = "test_sms_outbox.StopAfterSendingBackend"
    for n in range(3):
        due(make_profile(f"+1212555010{n}"))
    before = signal.getsignal(signal.SIGTERM)
    call_command("send_messages", "--loop", "30", "--limit", "2")
    # The signal came during the first pass of two messages: that pass ends, no second one starts.
    assert sorted(Message.objects.values_list("status", flat=True)) == ["queued", "sent", "sent"]
    assert capsys.readouterr().out.splitlines() == ["2 sent, 0 failed, 0 cancelled, 0 to retry", "Stopped."]
    assert signal.getsignal(signal.SIGTERM) is before


def test_confirmation_prompt_reaches_a_number_that_texted_stop(organization):
    campaign = Campaign.objects.create(organization=organization, name="Prompted")
    path = OptInPath.objects.create(organization=organization, campaign=campaign, name="Web form")
    profile, _ = consent.get_or_create_profile(organization, "+12025550177", channel=Channel.WEB)
    consent.opt_out(profile, channel=Channel.SMS, source_detail="STOP")
    result = consent.opt_in(profile, path, channel=Channel.WEB, source_detail="web form")
    assert result.outcome == consent.Outcome.PENDING_CONFIRMATION

    prompt = Message.objects.get(profile=profile, kind=Message.Kind.CONFIRMATION)
    assert consent_problem(prompt) == ""
    welcome_like = Message(organization=organization, profile=profile, kind=Message.Kind.BROADCAST, body="x")
    assert "opted out" in consent_problem(welcome_like)
