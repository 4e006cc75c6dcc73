"""The donation-form snippet in headless Chromium, on pages shaped like Luminate's Donation2 form.

The donation pages come from their own local server (another origin, as Luminate's would be); the
platform is pytest-django's live server. Run with the browser tests' conftest (tests/e2e/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from lumisync.mcapi.models import DonationFormSnippet, WebSettings
from lumisync.mcapi.snippet import render_snippet
from lumisync.messaging.models import Message
from lumisync.subscribers.models import Campaign, Channel, ConsentEvent, Donation, OptInPath, Profile

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = Path(__file__).resolve().parents[1] / "mcapi" / "pages"
DECLINED_CARD = "4000000000000002"
WORDING = "Yes, text me River Alerts. Msg & data rates may apply. Reply STOP to end, HELP for help."


class LuminateStandIn(ThreadingHTTPServer):
    """Serves the donation form and, for an accepted card, the thank-you page; a declined card gets the form back."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.form_snippet = ""
        self.thank_you_snippet = ""
        self.gifts_posted: list[dict[str, str]] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self):
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: LuminateStandIn

    def log_message(self, *args):
        pass

    def _send(self, html: str):
        body = html.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _form(self, error: str = "") -> str:
        page = (PAGES / "donation2.html").read_text()
        return page.replace("{{SNIPPET}}", self.server.form_snippet).replace("{{ERROR}}", error)

    def do_GET(self):
        self._send(self._form())

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        fields = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        self.server.gifts_posted.append(fields)
        if fields.get("responsive_payment_typecc_numbername") == DECLINED_CARD:
            self._send(self._form('<div class="ErrorMessage">Your card was declined.</div>'))
            return
        level = fields.get("level_standardexpanded", "")
        page = (PAGES / "thankyou.html").read_text()
        for placeholder, value in (
            ("{{TRANSACTION_ID}}", f"1440-{len(self.server.gifts_posted):04d}-X"),
            ("{{AMOUNT}}", "$25.00" if level == "2021" else "$50.00"),
            ("{{LEVEL_ID}}", level),
            ("{{SNIPPET}}", self.server.thank_you_snippet),
        ):
            page = page.replace(placeholder, value)
        self._send(page)


@pytest.fixture
def luminate():
    server = LuminateStandIn()
    yield server
    server.stop()


@pytest.fixture
def snippet(organization, luminate):
    campaign = Campaign.objects.create(organization=organization, name="River Alerts")
    path = OptInPath.objects.create(
        organization=organization,
        campaign=campaign,
        name="Donation form",
        welcome_message="Welcome to River Alerts! Reply HELP for help, STOP to end.",
    )
    WebSettings.objects.create(organization=organization, allowed_origins=luminate.origin)
    return DonationFormSnippet.objects.create(
        organization=organization, opt_in_path=path, consent_wording=WORDING
    )


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1000, "height": 1100})
    yield context.new_page()
    context.close()


def install(luminate, snippet, platform_url: str, script_url: str = ""):
    parts = render_snippet(snippet, platform_url.rstrip("/") + "/", script_url=script_url)
    luminate.form_snippet, luminate.thank_you_snippet = parts.form_page, parts.thank_you_page


def eventually(query, what: str, timeout: float = 15.0):
    """Poll until ``query()`` gives something: the browser reports in the background."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = query()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"{what} did not arrive within {timeout:.0f} s")


def fill_donation(page, *, card="4111111111111111", tick=True):
    page.fill("#fname", "Ada")
    page.fill("#lname", "Lovelace")
    page.fill("#email", "ada@example.org")
    page.fill("#donor_phonename", "(202) 555-0143")
    page.fill("#billing_addr_street1name", "1 Main St")
    page.fill("#billing_addr_cityname", "Albany")
    page.select_option("#billing_addr_state", "NY")
    page.fill("#zip", "12207")
    page.fill("#responsive_payment_typecc_numbername", card)
    if tick:
        page.check("#sms_opt_in")


def close_the_sending_window(organization) -> dt.datetime:
    """Open the sending window two hours from now, for an hour; answer when it opens next."""
    opens = (timezone.now().astimezone(organization.zone) + dt.timedelta(hours=2)).replace(
        second=0, microsecond=0
    )
    organization.sending_window_start = opens.time()
    organization.sending_window_end = (opens + dt.timedelta(hours=1)).time()
    organization.save()
    return opens


def test_ticked_box_opts_in_and_the_thank_you_page_records_the_gift(
    page, live_server, luminate, snippet, organization, screenshot
):
    window_opens = close_the_sending_window(organization)
    install(luminate, snippet, live_server.url)
    page.goto(luminate.origin + "/site/Donation2?df_id=1440")
    expect(page.locator("label[for=sms_opt_in]")).to_have_text(WORDING)
    fill_donation(page, card=DECLINED_CARD)
    screenshot(page, "donation-form-ticked")
    page.click("#pstep_finish")
    expect(page.locator(".ErrorMessage")).to_have_text("Your card was declined.")

    profile = eventually(lambda: Profile.objects.filter(organization=organization).first(), "The opt-in")
    assert (profile.phone_number, profile.first_name, profile.last_name, profile.email) == (
        "+12025550143",
        "Ada",
        "Lovelace",
        "ada@example.org",
    )
    assert (profile.street1, profile.city, profile.state, profile.postal_code) == (
        "1 Main St",
        "Albany",
        "NY",
        "12207",
    )
    assert profile.source == Channel.DONATION_FORM
    assert profile.subscriptions.get().status == "active"
    event = ConsentEvent.objects.get(profile=profile)
    assert (event.channel, event.consent_wording) == (Channel.DONATION_FORM, WORDING)
    # The number is in Washington, D.C., in the organization's time zone: the welcome waits for its window.
    assert Message.objects.get(profile=profile, kind="welcome").not_before == window_opens
    # A declined payment shows the form again, never the thank-you page: no gift yet.
    assert not Donation.objects.exists()

    fill_donation(page)
    page.click("#pstep_finish")
    expect(page.locator("h1")).to_have_text("Thank you for your gift!")
    screenshot(page, "thank-you-page")
    donation = eventually(lambda: Donation.objects.filter(organization=organization).first(), "The gift")
    assert (donation.transaction_id, donation.form_id, donation.level_id, donation.amount) == (
        "1440-0002-X",
        "1440",
        "2021",
        Decimal("25.00"),
    )
    assert (donation.profile_id, donation.donor_email, donation.channel) == (
        profile.pk,
        "ada@example.org",
        Channel.DONATION_FORM,
    )
    profile.refresh_from_db()
    assert (
        profile.billing_street1,
        profile.billing_city,
        profile.billing_state,
        profile.billing_postal_code,
    ) == (
        "1 Main St",
        "Albany",
        "NY",
        "12207",
    )
    # The second submit opted in again: still one subscription, one welcome.
    assert Message.objects.filter(profile=profile, kind="welcome").count() == 1

    page.reload()
    expect(page.locator("h1")).to_have_text("Thank you for your gift!")
    assert Donation.objects.count() == 1


def test_unticked_box_sends_nothing(page, live_server, luminate, snippet):
    install(luminate, snippet, live_server.url)
    page.goto(luminate.origin + "/site/Donation2?df_id=1440")
    fill_donation(page, tick=False)
    page.click("#pstep_finish")
    expect(page.locator("h1")).to_have_text("Thank you for your gift!")
    # The thank-you page's report goes out only after a ticked form; let a stray beacon land if there were one.
    page.wait_for_load_state("networkidle")
    assert not Profile.objects.exists()
    assert not Donation.objects.exists()


def test_an_earlier_ticked_attempt_does_not_report_an_unticked_gift(page, live_server, luminate, snippet):
    install(luminate, snippet, live_server.url)
    page.goto(luminate.origin + "/site/Donation2?df_id=1440")
    fill_donation(page, card=DECLINED_CARD)
    page.click("#pstep_finish")
    expect(page.locator(".ErrorMessage")).to_have_text("Your card was declined.")
    eventually(Profile.objects.exists, "The opt-in of the ticked attempt")

    fill_donation(page, tick=False)
    page.click("#pstep_finish")
    expect(page.locator("h1")).to_have_text("Thank you for your gift!")
    page.wait_for_load_state("networkidle")
    assert not Donation.objects.exists()


@contextmanager
def unreachable_platform(how: str):
    """The URL of a platform that refuses connections, or accepts them and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        if how == "refusing":
            server.close()
        else:
            server.listen(16)
        yield url


@pytest.mark.parametrize("how", ["refusing", "hanging"])
@pytest.mark.parametrize("down", ["endpoint", "script"])
def test_donation_goes_through_at_once_when_the_platform_is_down(
    page, live_server, luminate, snippet, screenshot, down, how
):
    with unreachable_platform(how) as platform:
        if down == "endpoint":
            # The script loads, but the platform it posts to does not answer.
            script = f"{live_server.url}/static/mcapi/luminate-donation.js"
            install(luminate, snippet, platform, script_url=script)
        else:
            install(luminate, snippet, platform)
        # A script that never arrives holds the page's load event; donors and Luminate do not wait for it.
        page.goto(luminate.origin + "/site/Donation2?df_id=1440", wait_until="domcontentloaded")
        fill_donation(page)
        clicked = time.monotonic()
        page.click("#pstep_finish")
        expect(page.locator("h1")).to_have_text("Thank you for your gift!")
        # Well under the script's 3-second abort: nothing waited for the platform.
        assert time.monotonic() - clicked < 2.0
        screenshot(page, f"thank-you-with-{down}-{how}")
        assert luminate.gifts_posted[-1]["donor_phonename"] == "(202) 555-0143"
