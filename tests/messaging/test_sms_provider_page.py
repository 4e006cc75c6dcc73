"""The Administrators' SMS provider page: the account, its secret token, the webhooks and a test message."""

from __future__ import annotations

import logging

import pytest
from django.views.debug import SafeExceptionReporterFilter

from lumisync.accounts.models import Role
from lumisync.messaging.models import Message, ProviderAccount
from lumisync.subscribers.models import ConsentEvent, Profile, ProfileStatus
from support.sms_fake_provider import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

pytestmark = pytest.mark.django_db

PAGE = "/sms/provider/"
SEND_TEST = "/sms/provider/test/"
NEW_TOKEN = "tok-new-5e1d9b3f7a2c4e6081d3f5a7c9e1b3d5"


@pytest.fixture
def private_hosts(settings):
    settings.LUMISYNC_ALLOW_PRIVATE_HOSTS = True


def form(base_url: str, **changes) -> dict[str, str]:
    return {
        "base_url": base_url,
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": "(202) 555-0100",
        **changes,
    }


def test_administrator_sets_the_account_and_the_token_never_comes_back(
    admin_client, organization, fake_provider, private_hosts, caplog
):
    caplog.set_level(logging.DEBUG)
    response = admin_client.post(PAGE, form(fake_provider.base_url + "/"))
    assert response.status_code == 302 and response["Location"] == PAGE

    account = ProviderAccount.objects.get(organization=organization)
    assert (account.base_url, account.account_sid, account.from_number) == (
        fake_provider.base_url,
        ACCOUNT_SID,
        FROM_NUMBER,
    )
    assert account.auth_token.reveal == AUTH_TOKEN

    page = admin_client.get(PAGE).content.decode()
    assert "SMS provider settings saved." in page
    assert AUTH_TOKEN not in page
    assert '<span class="badge secret-state" id="id_auth_token_state">set</span>' in page
    assert ACCOUNT_SID in page and FROM_NUMBER in page
    assert AUTH_TOKEN not in caplog.text
    assert "auth token replaced" in caplog.text


def test_blank_token_keeps_the_stored_one_and_a_new_one_replaces_it(
    admin_client, organization, provider_account, private_hosts, caplog
):
    caplog.set_level(logging.DEBUG)
    admin_client.post(PAGE, form(provider_account.base_url, auth_token="", account_sid="AC" + "f" * 32))
    provider_account.refresh_from_db()
    assert provider_account.account_sid == "AC" + "f" * 32
    assert provider_account.auth_token.reveal == AUTH_TOKEN
    assert "auth token kept" in caplog.text

    admin_client.post(PAGE, form(provider_account.base_url, auth_token=f"  {NEW_TOKEN} "))
    provider_account.refresh_from_db()
    assert provider_account.auth_token.reveal == NEW_TOKEN
    assert NEW_TOKEN not in caplog.text and AUTH_TOKEN not in caplog.text


def test_a_first_save_needs_a_token(admin_client, organization, private_hosts):
    page = admin_client.post(PAGE, form("https://api.twilio.com", auth_token="")).content.decode()
    assert "Auth token</a>: Enter the auth token: none is stored yet." in page
    assert not ProviderAccount.objects.filter(organization=organization).exists()


def test_an_error_elsewhere_does_not_send_the_typed_token_back(admin_client, organization, private_hosts):
    page = admin_client.post(PAGE, form("https://api.twilio.com", from_number="555")).content.decode()
    assert "Sending number</a>: &#x27;555&#x27; is not a valid phone number for region US." in page
    assert AUTH_TOKEN not in page
    assert not ProviderAccount.objects.filter(organization=organization).exists()


def test_an_error_report_of_the_page_hides_the_typed_token(admin_client, organization, private_hosts):
    response = admin_client.post(PAGE, form("https://api.twilio.com", from_number="555"))
    posted = SafeExceptionReporterFilter().get_post_parameters(response.wsgi_request)
    assert posted["auth_token"] == SafeExceptionReporterFilter.cleansed_substitute
    assert posted["account_sid"] == ACCOUNT_SID


def test_credentials_in_the_url_are_refused_and_not_shown_back(admin_client, organization):
    url = f"https://{ACCOUNT_SID}:{AUTH_TOKEN}@api.twilio.com"
    page = admin_client.post(PAGE, form(url)).content.decode()
    assert "The URL for &#x27;api.twilio.com&#x27; contains a user name or password" in page
    assert AUTH_TOKEN not in page
    assert 'value="https://api.twilio.com"' in page


@pytest.mark.parametrize(
    ("allow_private", "url", "message"),
    [
        (False, "https://127.0.0.1:8443", "&#x27;127.0.0.1&#x27; is a private or local address (127.0.0.1)"),
        (False, "https://10.1.2.3", "&#x27;10.1.2.3&#x27; is a private or local address (10.1.2.3)"),
        (
            False,
            "http://api.twilio.com",
            "&#x27;http://api.twilio.com&#x27; uses the scheme &#x27;http&#x27;; allowed: https://.",
        ),
        (True, "ftp://127.0.0.1", "uses the scheme &#x27;ftp&#x27;; allowed: https://, http://."),
        (True, "https://api.twilio.com/?x=1", "has a query or fragment; enter only the API root"),
    ],
)
def test_provider_url_is_checked(admin_client, organization, settings, allow_private, url, message):
    settings.LUMISYNC_ALLOW_PRIVATE_HOSTS = allow_private
    page = admin_client.post(PAGE, form(url)).content.decode()
    assert "API base URL</a>: " in page and message in page
    assert not ProviderAccount.objects.filter(organization=organization).exists()


def test_account_sid_cannot_change_the_request_path(admin_client, organization):
    page = admin_client.post(PAGE, form("https://api.twilio.com", account_sid="AC1/../x")).content.decode()
    assert "Account SID</a>: &#x27;AC1/../x&#x27; is not an account SID" in page


def test_a_number_of_another_organization_is_refused(
    client, make_user, other_organization, provider_account, private_hosts
):
    client.force_login(make_user(other_organization))
    page = client.post(PAGE, form("https://api.twilio.com", from_number="+1 202-555-0100")).content.decode()
    assert "Sending number</a>: +12025550100 is already the sending number of another organization." in page
    # Which organization holds it is none of this one's business.
    assert provider_account.organization.name not in page
    assert not ProviderAccount.objects.filter(organization=other_organization).exists()


def test_each_organization_sees_and_changes_only_its_own_account(
    client, make_user, other_organization, provider_account, private_hosts
):
    client.force_login(make_user(other_organization))
    page = client.get(PAGE).content.decode()
    assert ACCOUNT_SID not in page and FROM_NUMBER not in page
    assert '<span class="badge secret-state" id="id_auth_token_state">not set</span>' in page

    client.post(PAGE, form("https://api.twilio.com", account_sid="ACother", from_number="+12025550199"))
    provider_account.refresh_from_db()
    assert (provider_account.account_sid, provider_account.from_number) == (ACCOUNT_SID, FROM_NUMBER)
    other = ProviderAccount.objects.get(organization=other_organization)
    assert (other.account_sid, other.from_number) == ("ACother", "+12025550199")


def test_another_organizations_test_message_is_not_found(
    client, make_user, other_organization, provider_account, profile
):
    message = Message.objects.create(
        organization=profile.organization,
        profile=profile,
        kind=Message.Kind.REPLY,
        body="Test",
        not_before=profile.created_at,
    )
    client.force_login(make_user(profile.organization))
    assert client.get(f"/sms/provider/test/{message.pk}/").status_code == 200
    client.force_login(make_user(other_organization))
    assert client.get(f"/sms/provider/test/{message.pk}/").status_code == 404


def test_staff_cannot_open_or_change_it(client, make_user, organization, provider_account):
    client.force_login(make_user(organization, role=Role.STAFF))
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, form("https://api.twilio.com", account_sid="ACstaff")).status_code == 403
    assert client.post(SEND_TEST, {"phone_number": "+12125550143"}).status_code == 403
    provider_account.refresh_from_db()
    assert provider_account.account_sid == ACCOUNT_SID
    assert 'href="/sms/provider/"' not in client.get("/").content.decode()


def test_signed_out_visitors_go_to_sign_in(client, db):
    response = client.get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_webhook_addresses_from_the_request(admin_client):
    page = admin_client.get(PAGE).content.decode()
    assert '<code id="inbound-url">http://testserver/sms/inbound/</code>' in page
    assert "http://testserver/sms/status/&lt;message id&gt;/" in page
    assert 'id="public-url-missing"' in page


def test_webhook_addresses_from_the_public_url(admin_client, settings):
    settings.LUMISYNC_PUBLIC_URL = "https://sms.example.org/"
    page = admin_client.get(PAGE).content.decode()
    assert '<code id="inbound-url">https://sms.example.org/sms/inbound/</code>' in page
    assert "https://sms.example.org/sms/status/&lt;message id&gt;/" in page
    assert 'id="public-url-missing"' not in page
    assert 'href="/sms/provider/" aria-current="page">SMS provider</a>' in page


class TestTestMessage:
    def test_goes_at_once_through_the_saved_account(
        self, admin_client, organization, twilio, fake_provider, caplog
    ):
        caplog.set_level(logging.DEBUG)
        response = admin_client.post(SEND_TEST, {"phone_number": "(212) 555-0143"})
        [request] = fake_provider.received
        assert (request.username, request.password) == (ACCOUNT_SID, AUTH_TOKEN)
        assert request.form["To"] == "+12125550143" and request.form["From"] == FROM_NUMBER
        message = Message.objects.get(organization=organization)
        assert (message.kind, message.status, message.provider_sid) == ("reply", "sent", request.sid)
        assert response.status_code == 302 and response["Location"] == f"/sms/provider/test/{message.pk}/"
        page = admin_client.get(response["Location"]).content.decode()
        assert '<span class="badge sent" id="test-status">Sent</span>' in page and request.sid in page
        profile = Profile.objects.get(organization=organization, phone_number="+12125550143")
        assert profile.source == "admin"
        assert AUTH_TOKEN not in caplog.text

    def test_a_number_that_cannot_take_texts_shows_the_error_and_marks_the_profile(
        self, admin_client, organization, twilio, fake_provider
    ):
        fake_provider.fail_next(400, code=21614, message="'To' number is not a valid mobile number")
        response = admin_client.post(SEND_TEST, {"phone_number": "+12125550143"}, follow=True)
        page = response.content.decode()
        assert '<span class="badge failed" id="test-status">Failed</span>' in page
        assert "(provider error 21614)" in page
        profile = Profile.objects.get(organization=organization, phone_number="+12125550143")
        assert profile.status == ProfileStatus.UNDELIVERABLE

    def test_not_to_a_number_that_opted_out(self, admin_client, twilio, fake_provider, make_profile):
        stopped = make_profile("+12125550143", opted_out_at="2026-01-05T10:00:00Z", status="stopped")
        page = admin_client.post(SEND_TEST, {"phone_number": "+12125550143"}).content.decode()
        assert "+12125550143 texted a STOP word on 2026-01-05; no test message is sent to it." in page
        assert fake_provider.received == [] and not Message.objects.filter(profile=stopped).exists()
        assert not ConsentEvent.objects.exists()

    def test_needs_a_saved_account_and_a_valid_number(self, admin_client, organization, twilio):
        page = admin_client.post(SEND_TEST, {"phone_number": "12"}).content.decode()
        assert "Send a test message to</a>: &#x27;12&#x27; is not a valid phone number for region US." in page
        twilio.delete()
        page = admin_client.post(SEND_TEST, {"phone_number": "+12125550143"}, follow=True).content.decode()
        assert "Save the provider settings before sending a test message." in page
        assert not Message.objects.exists()

    def test_only_post(self, admin_client):
        assert admin_client.get(SEND_TEST).status_code == 405


def test_a_site_that_only_logs_texts_says_so(admin_client, provider_account, profile, settings):
    settings.LUMISYNC_SMS_BACKEND = "log"
    note = 'id="logged-only"'
    assert note in admin_client.get(PAGE).content.decode()
    response = admin_client.post(SEND_TEST, {"phone_number": profile.phone_number}, follow=True)
    assert note in response.content.decode()
    settings.LUMISYNC_SMS_BACKEND = "twilio"
    assert note not in admin_client.get(PAGE).content.decode()
