"""The provider's webhooks: delivery receipts and incoming texts, both signed with the auth token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from xml.sax.saxutils import escape

import pytest

from lumisync.messaging.models import Message
from lumisync.messaging.services import queue_message, send_due_messages
from lumisync.messaging.signatures import compute_signature, signature_is_valid
from lumisync.subscribers.inbound import HELP_REPLY, STOP_REPLY
from lumisync.subscribers.models import Campaign, OptInPath, Profile, ProfileStatus, Subscription
from support.sms_fake_provider import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

pytestmark = pytest.mark.django_db

INBOUND_URL = "http://testserver/sms/inbound/"
SENDER = "+12125550143"


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    # Written out again here rather than calling the code under test, so a shared mistake cannot hide.
    data = url + "".join(key + params[key] for key in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def post_signed(client, url: str, params: dict[str, str], *, token: str = AUTH_TOKEN):
    return client.post(url, params, HTTP_X_TWILIO_SIGNATURE=sign("http://testserver" + url, params, token))


class TestSignature:
    # The worked example in Twilio's request-validation documentation.
    URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
    PARAMS = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]

    def test_documented_example(self):
        assert compute_signature("12345", self.URL, self.PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        assert signature_is_valid(
            "12345", ["https://other.example", self.URL], self.PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        )

    def test_repeated_parameters(self):
        params = [
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]
        assert compute_signature("12345", self.URL, params) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="

    def test_any_change_invalidates(self):
        good = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        tampered = [*self.PARAMS[:2], ("Digits", "9999"), *self.PARAMS[3:]]
        assert not signature_is_valid("12345", [self.URL], tampered, good)
        assert not signature_is_valid("12345", [self.URL + "&x=1"], self.PARAMS, good)
        assert not signature_is_valid("54321", [self.URL], self.PARAMS, good)
        assert not signature_is_valid("12345", [self.URL], self.PARAMS, "")
        assert not signature_is_valid("", [self.URL], self.PARAMS, good)


@pytest.fixture
def sent_message(twilio, profile):
    message = queue_message(profile, "Rally at noon", kind="broadcast", reply=True)
    assert send_due_messages().sent == 1
    message.refresh_from_db()
    return message


def receipt(message: Message, status: str, **extra) -> dict[str, str]:
    return {"AccountSid": ACCOUNT_SID, "MessageSid": message.provider_sid, "MessageStatus": status, **extra}


class TestStatusCallback:
    def url(self, message: Message) -> str:
        return f"/sms/status/{message.pk}/"

    def test_delivered_receipt_with_good_signature(self, client, sent_message):
        response = post_signed(client, self.url(sent_message), receipt(sent_message, "delivered"))
        assert response.status_code == 204
        sent_message.refresh_from_db()
        assert sent_message.status == Message.Status.DELIVERED

    def test_bad_signature_is_refused_and_changes_nothing(self, client, sent_message):
        params = receipt(sent_message, "failed", ErrorCode="30007")
        response = client.post(
            self.url(sent_message), params, HTTP_X_TWILIO_SIGNATURE=sign(INBOUND_URL, params, "wrong-token")
        )
        assert response.status_code == 403
        assert client.post(self.url(sent_message), params).status_code == 403
        sent_message.refresh_from_db()
        assert sent_message.status == Message.Status.SENT

    def test_signature_over_other_parameters_is_refused(self, client, sent_message):
        signed = receipt(sent_message, "delivered")
        sent = receipt(sent_message, "undelivered", ErrorCode="30003")
        url = self.url(sent_message)
        response = client.post(url, sent, HTTP_X_TWILIO_SIGNATURE=sign("http://testserver" + url, signed))
        assert response.status_code == 403

    def test_undelivered_records_the_error_code(self, client, sent_message):
        response = post_signed(
            client, self.url(sent_message), receipt(sent_message, "undelivered", ErrorCode="30003")
        )
        assert response.status_code == 204
        sent_message.refresh_from_db()
        assert (sent_message.status, sent_message.error_code) == (Message.Status.UNDELIVERED, "30003")
        assert sent_message.error == "The provider reported the message undelivered (error 30003)."

    def test_late_receipt_does_not_undo_a_final_state(self, client, sent_message):
        post_signed(client, self.url(sent_message), receipt(sent_message, "delivered"))
        assert post_signed(client, self.url(sent_message), receipt(sent_message, "sent")).status_code == 204
        sent_message.refresh_from_db()
        assert sent_message.status == Message.Status.DELIVERED

    def test_receipt_for_another_provider_message_is_refused(self, client, sent_message):
        params = receipt(sent_message, "delivered", MessageSid="SM" + "f" * 32)
        assert post_signed(client, self.url(sent_message), params).status_code == 409
        sent_message.refresh_from_db()
        assert sent_message.status == Message.Status.SENT

    def test_unknown_message_is_not_found(self, client, sent_message):
        params = receipt(sent_message, "delivered")
        assert post_signed(client, f"/sms/status/{sent_message.pk + 1000}/", params).status_code == 404

    def test_receipt_for_a_message_awaiting_retry_prevents_a_second_text(
        self, client, twilio, fake_provider, profile
    ):
        # The provider took the message but the answer timed out: the receipt tells us it was delivered.
        message = queue_message(profile, "Rally at noon", kind="broadcast", reply=True)
        Message.objects.filter(pk=message.pk).update(attempts=1, error="The SMS provider timed out.")
        provider_sid = "SM" + "b" * 32
        params = {"AccountSid": ACCOUNT_SID, "MessageSid": provider_sid, "MessageStatus": "delivered"}
        assert post_signed(client, self.url(message), params).status_code == 204
        message.refresh_from_db()
        assert (message.status, message.provider_sid, message.error) == ("delivered", provider_sid, "")
        assert send_due_messages().claimed == 0
        assert fake_provider.received == []

    def test_only_post(self, client, sent_message):
        assert client.get(self.url(sent_message)).status_code == 405


def inbound(body: str, *, sender: str = SENDER, to: str = FROM_NUMBER) -> dict[str, str]:
    return {"AccountSid": ACCOUNT_SID, "MessageSid": "SM" + "a" * 32, "From": sender, "To": to, "Body": body}


class TestInbound:
    def test_stop_opts_out_and_the_reply_is_sent_at_once(
        self, client, twilio, fake_provider, organization, profile, make_subscription
    ):
        subscription = make_subscription(profile)
        response = post_signed(client, "/sms/inbound/", inbound("stop"))
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/xml")
        assert response.content.decode() == '<?xml version="1.0" encoding="UTF-8"?><Response/>'

        profile.refresh_from_db()
        subscription.refresh_from_db()
        assert profile.is_globally_opted_out and profile.status == ProfileStatus.STOPPED
        assert subscription.status == Subscription.Status.OPTED_OUT
        [reply] = Message.objects.filter(profile=profile)
        expected = STOP_REPLY.format(organization=organization.name)
        assert (reply.kind, reply.body, reply.is_reply, reply.status) == ("reply", expected, True, "sent")
        [request] = fake_provider.received
        assert request.form["To"] == SENDER and request.form["Body"] == expected
        assert reply.provider_sid == request.sid

    def test_keyword_welcome_goes_at_once_even_at_night(self, client, twilio, fake_provider, organization):
        campaign = Campaign.objects.create(organization=organization, name="River alerts")
        OptInPath.objects.create(
            organization=organization,
            campaign=campaign,
            name="RIVERS keyword",
            kind=OptInPath.Kind.KEYWORD,
            keyword="RIVERS",
            welcome_message="Welcome to River alerts! Reply STOP to end.",
        )
        response = post_signed(client, "/sms/inbound/", inbound("Rivers", sender="+14155550143"))
        assert response.status_code == 200
        profile = Profile.objects.get(organization=organization, phone_number="+14155550143")
        [welcome] = Message.objects.filter(profile=profile)
        assert (welcome.kind, welcome.status) == ("welcome", "sent")
        assert [r.form["Body"] for r in fake_provider.received] == [
            "Welcome to River alerts! Reply STOP to end."
        ]

    def test_help_from_a_stranger_is_answered_in_the_response(
        self, client, twilio, fake_provider, organization, caplog
    ):
        caplog.set_level(logging.INFO, logger="lumisync.messaging")
        response = post_signed(client, "/sms/inbound/", inbound(" help\n", sender="+13125550143"))
        assert response.status_code == 200
        assert response.content.decode().startswith(
            '<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
        )
        reply = HELP_REPLY.format(organization=organization.name)
        assert f"<Message>{escape(reply)}</Message>" in response.content.decode()
        assert not Message.objects.exists() and fake_provider.received == []
        # No outbox row and no profile: the log line is the record of what was asked and answered.
        assert (
            "Incoming text from a number without a profile (ending 0143), keyword 'help', answered inline: "
            + reply
        ) in caplog.text
        assert "+13125550143" not in caplog.text

    def test_bad_signature_is_refused_and_nothing_happens(self, client, twilio, profile):
        params = inbound("STOP")
        response = client.post(
            "/sms/inbound/", params, HTTP_X_TWILIO_SIGNATURE=sign(INBOUND_URL, params, "forged")
        )
        assert response.status_code == 403
        profile.refresh_from_db()
        assert not profile.is_globally_opted_out
        assert not Message.objects.exists()

    def test_unknown_to_number_is_not_found(self, client, twilio):
        response = post_signed(client, "/sms/inbound/", inbound("STOP", to="+12025550199"))
        assert response.status_code == 404

    def test_invalid_from_number_is_a_bad_request(self, client, twilio):
        response = post_signed(client, "/sms/inbound/", inbound("STOP", sender="12"))
        assert response.status_code == 400
        assert "From: '12' is not a" in response.content.decode()

    def test_signature_for_the_public_address_is_accepted(self, client, twilio, settings, profile):
        settings.LUMISYNC_PUBLIC_URL = "https://sms.example.org"
        params = inbound("HELP")
        signature = sign("https://sms.example.org/sms/inbound/", params)
        assert client.post("/sms/inbound/", params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 200
