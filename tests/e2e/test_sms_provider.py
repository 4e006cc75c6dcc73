"""The SMS provider page in a real browser: set the account, see the token never come back, send a test."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from lumisync.messaging.models import ProviderAccount
from support.sms_fake_provider import ACCOUNT_SID, AUTH_TOKEN, running

pytestmark = pytest.mark.browser


@pytest.fixture
def fake_provider(settings):
    # The stand-in provider listens on 127.0.0.1 over plain http, which only a test site allows.
    settings.LUMISYNC_ALLOW_PRIVATE_HOSTS = True
    settings.LUMISYNC_SMS_BACKEND = "twilio"
    with running(ACCOUNT_SID, AUTH_TOKEN) as provider:
        yield provider


def test_set_the_provider_and_send_a_test_message(
    browser_page, sign_in, screenshot, admin_user, organization, fake_provider
):
    page = browser_page
    sign_in(page, admin_user)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="SMS provider").click()
    expect(page).to_have_url("/sms/provider/")
    expect(page.locator("#id_auth_token_state")).to_have_text("not set")
    expect(page.locator("#inbound-url")).to_have_text(f"{page.url.split('/sms/')[0]}/sms/inbound/")

    page.get_by_label("API base URL").fill(fake_provider.base_url)
    page.get_by_label("Account SID").fill(ACCOUNT_SID)
    page.get_by_label("Auth token").fill(AUTH_TOKEN)
    page.get_by_label("Sending number").fill("555")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".form-errors")).to_contain_text("Sending number: '555' is not a valid phone number")
    assert AUTH_TOKEN not in page.content()
    expect(page.get_by_label("Auth token")).to_have_value("")
    screenshot(page, "1-error")

    page.get_by_label("Auth token").fill(AUTH_TOKEN)
    page.get_by_label("Sending number").fill("202 555 0100")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".message.success")).to_have_text("SMS provider settings saved.")
    expect(page.locator("#id_auth_token_state")).to_have_text("set")
    expect(page.get_by_label("Auth token")).to_have_value("")
    expect(page.get_by_label("Sending number")).to_have_value("+12025550100")
    assert AUTH_TOKEN not in page.content()
    assert ProviderAccount.objects.get(organization=organization).auth_token.reveal == AUTH_TOKEN
    screenshot(page, "2-saved")

    page.get_by_label("Send a test message to").fill("(212) 555-0143")
    page.get_by_role("button", name="Send test message").click()
    expect(page.locator("#test-status")).to_have_text("Sent")
    [request] = fake_provider.received
    assert (request.form["To"], request.password) == ("+12125550143", AUTH_TOKEN)
    screenshot(page, "3-test-message")
