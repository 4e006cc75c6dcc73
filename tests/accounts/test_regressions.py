"""Organization settings that are refused, pages not found, and debug pages that must stay off."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.urls import reverse

from lumisync.accounts.models import Membership, Role

SETTINGS = reverse("accounts:organization_settings")
SWITCH = reverse("accounts:switch_organization")

VALID = {
    "name": "Save the Rivers",
    "time_zone": "America/New_York",
    "phone_region": "US",
    "sending_window_start": "09:00",
    "sending_window_end": "20:00",
}


def top_bar(page: str) -> str:
    return page.split('<header class="topbar">')[1].split("</header>")[0]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "Name</a>: This field is required."),
        (
            {"name": "Renamed Rivers", "time_zone": "Mars/Olympus"},
            "Time zone</a>: &#x27;Mars/Olympus&#x27; is not a time zone name",
        ),
        (
            {"name": "Renamed Rivers", "phone_region": "XX"},
            "Phone region</a>: &#x27;XX&#x27; is not a two-letter phone region",
        ),
    ],
)
def test_a_refused_save_keeps_the_stored_name_around_the_form(
    client, admin_user, organization, changes, message
):
    client.force_login(admin_user)
    response = client.post(SETTINGS, {**VALID, **changes})
    page = response.content.decode()
    assert response.status_code == 200
    assert message in page
    assert 'class="organization-name">Save the Rivers<' in top_bar(page)
    assert "<title>Organization settings · Save the Rivers</title>" in page
    assert "Renamed Rivers" not in top_bar(page)
    # The form itself gives back what was typed, for correcting.
    if changes["name"]:
        assert 'value="Renamed Rivers"' in page
    organization.refresh_from_db()
    assert (organization.name, organization.time_zone) == ("Save the Rivers", "America/New_York")


def test_an_unknown_time_zone_is_refused_on_every_page_after_it(client, admin_user, organization):
    client.force_login(admin_user)
    response = client.post(SETTINGS, {**VALID, "time_zone": "Mars/Olympus"})
    assert response.status_code == 200
    assert "Nothing was saved" in response.content.decode()
    # The refused zone reached nothing: the next pages still render in the stored one.
    for url in (reverse("accounts:dashboard"), SETTINGS, reverse("subscribers:profile_list")):
        assert client.get(url).status_code == 200, url
    organization.refresh_from_db()
    assert organization.time_zone == "America/New_York"


def test_a_refused_save_keeps_the_stored_names_in_the_switcher(
    client, make_user, organization, other_organization
):
    user = make_user(organization, username="dana")
    Membership.objects.create(user=user, organization=other_organization, role=Role.ADMINISTRATOR)
    client.force_login(user)
    client.post(SWITCH, {"organization": organization.pk})
    page = client.post(SETTINGS, {**VALID, "name": "Renamed Rivers", "time_zone": "Mars/Olympus"})
    switcher = top_bar(page.content.decode())
    assert f'<option value="{organization.pk}" selected>Save the Rivers</option>' in switcher
    assert f'<option value="{other_organization.pk}">Clean Air Now</option>' in switcher
    assert "Renamed Rivers" not in switcher


def test_settings_change_only_the_organization_worked_in(client, make_user, organization, other_organization):
    user = make_user(organization, username="dana")
    Membership.objects.create(user=user, organization=other_organization, role=Role.ADMINISTRATOR)
    client.force_login(user)
    client.post(SWITCH, {"organization": other_organization.pk})
    response = client.post(SETTINGS, {**VALID, "name": "Clean Air Now Fund", "time_zone": "Europe/London"})
    assert response.status_code == 302
    other_organization.refresh_from_db()
    organization.refresh_from_db()
    assert (other_organization.name, other_organization.time_zone) == ("Clean Air Now Fund", "Europe/London")
    assert (organization.name, organization.time_zone) == ("Save the Rivers", "America/New_York")


def test_a_missing_page_uses_the_projects_404_page(client, admin_user):
    anonymous = client.get("/no-such-page/")
    assert anonymous.status_code == 404
    assert "There is nothing at this address." in anonymous.content.decode()
    assert 'href="/static/lumisync/app.css"' in anonymous.content.decode()
    client.force_login(admin_user)
    signed_in = client.get("/no-such-page/").content.decode()
    assert "There is nothing at this address in Save the Rivers." in signed_in
    assert "URLconf" not in signed_in


# Evaluated in a fresh interpreter, because pytest-django forces DEBUG off inside the test process.
PROBE = """
import django
from django.conf import settings
from django.test import Client
django.setup()
page = Client().get("/no-such-page/").content.decode()
print(settings.DEBUG, "URLconf" in page, "There is nothing at this address." in page)
"""


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, "False False True"),
        ({"LUMISYNC_DEBUG": "0"}, "False False True"),
        ({"LUMISYNC_DEBUG": "1"}, "True True False"),
        (
            {"LUMISYNC_ENV": "production", "LUMISYNC_DEBUG": "1", "DJANGO_SECRET_KEY": "production-key"},
            "False False True",
        ),
    ],
)
def test_debug_pages_are_off_unless_asked_for_outside_production(tmp_path, environment, expected):
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("LUMISYNC_DEBUG", "LUMISYNC_ENV", "DJANGO_SECRET_KEY", "LUMISYNC_ALLOWED_HOSTS")
    }
    env.update(
        environment,
        DJANGO_SETTINGS_MODULE="lumisync.settings",
        LUMISYNC_HOME=str(tmp_path),
        # Production lists no host by default; the probe's client asks as "testserver".
        LUMISYNC_ALLOWED_HOSTS="testserver",
        # Production redirects plain http to https before any page is looked up.
        LUMISYNC_SSL_REDIRECT="0",
    )
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected
