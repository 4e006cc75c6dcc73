"""The Twilio-compatible backend against a provider served on loopback."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import zoneinfo

import pytest
import time_machine
from django.utils import timezone

from lumisync.messaging.backends import PermanentDeliveryError, TwilioBackend
from lumisync.messaging.models import Message, ProviderAccount
from lumisync.messaging.services import queue_message, send_due_messages
from support.certificates import make_certificate
from support.sms_fake_provider import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, running

pytestmark = pytest.mark.django_db

SECRETS = (AUTH_TOKEN, base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode())


def now_due(profile, body="Rally at noon", kind="broadcast") -> Message:
    return queue_message(profile, body, kind=kind, reply=True)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_message_is_posted_with_account_credentials(twilio, fake_provider, profile, settings):
    settings.LUMISYNC_PUBLIC_URL = "https://sms.example.org/"
    message = now_due(profile)
    summary = send_due_messages()
    assert summary.sent == 1
    [request] = fake_provider.received
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert (request.username, request.password) == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.form == {
        "To": profile.phone_number,
        "From": FROM_NUMBER,
        "Body": "Rally at noon",
        "StatusCallback": f"https://sms.example.org/sms/status/{message.pk}/",
    }
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.provider_sid.startswith("SM") and len(message.provider_sid) == 34
    assert message.sent_at is not None and message.error == ""


def test_no_status_callback_without_a_public_url(twilio, fake_provider, profile):
    now_due(profile)
    send_due_messages()
    assert "StatusCallback" not in fake_provider.received[0].form


def test_provider_refusal_fails_the_message_for_good(twilio, fake_provider, profile):
    fake_provider.fail_next(400, code=21211, message=f"The 'To' number {profile.phone_number} is not valid.")
    message = now_due(profile)
    summary = send_due_messages()
    message.refresh_from_db()
    assert (summary.failed, summary.retried) == (1, 0)
    assert message.status == Message.Status.FAILED
    assert (
        message.error
        == f"HTTP 400: The 'To' number {profile.phone_number} is not valid. (provider error 21211)"
    )
    assert message.error_code == "21211"
    assert send_due_messages(now=timezone.now() + dt.timedelta(days=1)).claimed == 0
    assert len(fake_provider.received) == 1


def test_wrong_token_is_a_permanent_failure_without_the_token(twilio, fake_provider, profile):
    ProviderAccount.objects.filter(pk=twilio.pk).update(auth_token="not-the-token")
    message = now_due(profile)
    send_due_messages()
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.error == "HTTP 401: Authentication Error (provider error 20003)"


def test_unavailable_provider_is_retried_later_then_sent(twilio, fake_provider, profile):
    fake_provider.fail_next(503, code=20500, message="Service Unavailable")
    message = now_due(profile)
    before = timezone.now()
    summary = send_due_messages()
    message.refresh_from_db()
    assert summary.retried == 1
    assert message.status == Message.Status.QUEUED
    assert message.attempts == 1
    assert "HTTP 503: Service Unavailable" in message.error
    # One minute of backoff, stretched by at most a quarter for jitter.
    assert before + dt.timedelta(minutes=1) <= message.not_before <= timezone.now() + dt.timedelta(seconds=76)
    assert send_due_messages().claimed == 0

    assert send_due_messages(now=message.not_before).sent == 1
    message.refresh_from_db()
    assert (message.status, message.attempts, message.error) == (Message.Status.SENT, 2, "")
    assert len(fake_provider.received) == 2


def test_transient_failures_give_up_after_the_attempt_limit(twilio, fake_provider, profile, settings):
    settings.LUMISYNC_SMS_MAX_ATTEMPTS = 2
    fake_provider.fail_next(503, message="Service Unavailable")
    fake_provider.fail_next(500, message="Internal Server Error")
    message = now_due(profile)
    send_due_messages()
    message.refresh_from_db()
    send_due_messages(now=message.not_before)
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.error == "Gave up after 2 attempts: HTTP 500: Internal Server Error"


def test_timeout_is_retried(twilio, fake_provider, profile, settings):
    settings.LUMISYNC_SMS_TIMEOUT_SECONDS = 0.2
    fake_provider.fail_next(503, delay=1.0)
    message = now_due(profile)
    assert send_due_messages().retried == 1
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.error == f"The SMS provider at {fake_provider.base_url} timed out."


def test_throttling_is_retried(twilio, fake_provider, profile):
    fake_provider.fail_next(429, code=20429, message="Too Many Requests")
    message = now_due(profile)
    assert send_due_messages().retried == 1
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Message.Status.QUEUED, "20429")


def test_retry_of_a_window_message_waits_for_the_next_window(twilio, fake_provider, profile):
    new_york = zoneinfo.ZoneInfo("America/New_York")
    evening = dt.datetime(2026, 6, 11, 19, 59, 30, tzinfo=new_york)
    with time_machine.travel(evening, tick=False):
        message = queue_message(profile, "Last call", kind="broadcast")
        assert message.not_before == evening
        fake_provider.fail_next(503, message="Service Unavailable")
        assert send_due_messages().retried == 1
    message.refresh_from_db()
    assert message.not_before == dt.datetime(2026, 6, 12, 9, 0, tzinfo=new_york)


def test_organization_without_an_account_is_retried_with_a_clear_error(settings, profile):
    settings.LUMISYNC_SMS_BACKEND = "twilio"
    message = now_due(profile)
    assert send_due_messages().retried == 1
    message.refresh_from_db()
    assert message.error == (
        f"Organization {profile.organization.slug!r} has no SMS provider account with a SID and auth token."
    )


def test_private_provider_address_is_refused_unless_allowed(twilio, fake_provider, profile, settings):
    settings.LUMISYNC_ALLOW_PRIVATE_HOSTS = False
    message = now_due(profile)
    assert send_due_messages().retried == 1
    message.refresh_from_db()
    assert "uses the scheme 'http'" in message.error
    assert fake_provider.received == []


def test_token_never_in_logs_or_exception_text(twilio, fake_provider, profile, caplog):
    caplog.set_level(logging.DEBUG)
    fake_provider.fail_next(400, code=21610, message="Attempt to send to unsubscribed recipient")
    fake_provider.fail_next(503, message="Service Unavailable")
    for _ in range(3):
        now_due(profile)
    send_due_messages()
    assert [m.status for m in Message.objects.order_by("id")] == ["failed", "queued", "sent"]
    assert "SMS message" in caplog.text
    assert_no_secret(caplog.text)
    for message in Message.objects.all():
        assert_no_secret(message.error)
    account = ProviderAccount.objects.get(pk=twilio.pk)
    assert_no_secret(repr(account.auth_token) + repr(account) + str(account))

    fake_provider.fail_next(400, code=21211, message="Invalid 'To' Phone Number")
    backend = TwilioBackend()
    try:
        with pytest.raises(PermanentDeliveryError) as raised:
            backend.send(
                Message.objects.select_related("profile", "organization").first(), status_callback=None
            )
    finally:
        backend.close()
    assert_no_secret(str(raised.value) + repr(raised.value))


@pytest.fixture
def provider_certificate(tmp_path):
    """A self-signed certificate for the provider: its own authority, which the client trusts only when a
    test lists it in SSL_CERT_FILE."""
    return make_certificate(tmp_path, "sms-provider")


@pytest.fixture
def https_provider(twilio, provider_certificate, monkeypatch):
    """The provider account pointed at a fake provider serving https."""
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(variable, raising=False)
    with running(ACCOUNT_SID, AUTH_TOKEN, certificate=provider_certificate) as provider:
        ProviderAccount.objects.filter(pk=twilio.pk).update(base_url=provider.base_url)
        yield provider


def test_untrusted_provider_certificate_sends_nothing_and_says_why(https_provider, profile):
    message = now_due(profile)
    summary = send_due_messages()
    message.refresh_from_db()
    assert summary.retried == 1 and summary.sent == 0
    assert message.status == Message.Status.QUEUED
    assert message.error.startswith(
        f"The TLS certificate of the SMS provider at {https_provider.base_url} was refused ("
    )
    assert "CERTIFICATE_VERIFY_FAILED" in message.error
    assert https_provider.received == []


def test_provider_certificate_signed_by_a_trusted_authority_sends(
    https_provider, provider_certificate, profile, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(provider_certificate.cert_file))
    message = now_due(profile)
    assert send_due_messages().sent == 1
    message.refresh_from_db()
    [request] = https_provider.received
    assert https_provider.base_url.startswith("https://")
    assert (request.form["To"], request.form["Body"]) == (profile.phone_number, "Rally at noon")
    assert (message.status, message.provider_sid) == (Message.Status.SENT, request.sid)
