"""Browser tests: Playwright driving the system's Chromium against pytest-django's live server.

Without /usr/bin/chromium the browser tests are skipped with a loud reason, unless
LUMISYNC_REQUIRE_BROWSER=1, when they fail instead (CI sets it so a missing browser cannot pass silently).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# What make_user (tests/conftest.py) gives every test user.
PASSWORD = "s3cret-Pass-123"


@pytest.fixture(scope="module")
def chromium():
    """The browser, for one test module at a time.

    Playwright's sync API keeps an event loop running in this thread while it is open, so it is closed
    after each module: tests elsewhere that start their own loop (asyncio.run) must not find one running.
    Meanwhile Django's ORM calls made by the test itself would be refused as "called from an async
    context"; DJANGO_ALLOW_ASYNC_UNSAFE allows them for exactly that time.
    """
    if not CHROMIUM.exists():
        reason = f"BROWSER TESTS NOT RUN: {CHROMIUM} is missing (install Debian's chromium package)."
        if os.environ.get("LUMISYNC_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " LUMISYNC_REQUIRE_BROWSER=1 makes this a failure.")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_page(chromium, live_server, transactional_db):
    """A fresh page in its own browser context; ``page.goto("/...")`` is relative to the live server."""
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(request):
    """``screenshot(page, "what-it-shows")`` saves test-artifacts/screenshots/<test>--<what>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test_name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")

    def take(page, what: str) -> Path:
        path = SCREENSHOTS / f"{test_name}--{what}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def sign_in():
    """``sign_in(page, user)`` signs ``user`` in through the login page and waits for the signed-in page."""
    from playwright.sync_api import expect

    def sign_in(page, user) -> None:
        page.goto("/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()

    return sign_in
