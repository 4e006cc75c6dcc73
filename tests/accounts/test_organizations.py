"""Organizations: the dashboard, switching organization, roles and the organization settings page."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from lumisync.accounts.middleware import SESSION_KEY
from lumisync.accounts.models import Membership, Role
from lumisync.subscribers import services
from lumisync.subscribers.models import Campaign, Channel, OptInPath

DASHBOARD = reverse("accounts:dashboard")
SETTINGS = reverse("accounts:organization_settings")
SWITCH = reverse("accounts:switch_organization")


def count(page: str, element_id: str) -> int:
    return int(page.split(f'id="{element_id}">')[1].split("<")[0])


def test_dashboard_counts_this_organizations_people_only(
    client, admin_user, organization, other_organization
):
    rivers = Campaign.objects.create(organization=organization, name="River Alerts")
    Campaign.objects.create(organization=organization, name="Volunteers")
    path = OptInPath.objects.create(organization=organization, campaign=rivers, name="Web")
    week_old = timezone.now() - timedelta(days=8)
    with time_machine.travel(week_old, tick=False):
        old, _ = services.get_or_create_profile(organization, "+1 202 555 0101", channel=Channel.WEB)
        services.opt_in(old, path, channel=Channel.SMS)
    for number in ("+1 202 555 0102", "+1 202 555 0103"):
        profile, _ = services.get_or_create_profile(organization, number, channel=Channel.WEB)
        services.opt_in(profile, path, channel=Channel.SMS)
    stopped, _ = services.get_or_create_profile(organization, "+1 202 555 0104", channel=Channel.WEB)
    services.opt_in(stopped, path, channel=Channel.SMS)
    services.opt_out(stopped, channel=Channel.SMS, source_detail="STOP")
    services.get_or_create_profile(organization, "+1 202 555 0105", channel=Channel.WEB)
    foreign_campaign = Campaign.objects.create(organization=other_organization, name="Air")
    foreign_path = OptInPath.objects.create(
        organization=other_organization, campaign=foreign_campaign, name="Web"
    )
    foreign, _ = services.get_or_create_profile(other_organization, "+1 415 555 0100", channel=Channel.WEB)
    services.opt_in(foreign, foreign_path, channel=Channel.SMS)

    client.force_login(admin_user)
    page = client.get(DASHBOARD).content.decode()
    assert count(page, "count-profiles") == 5
    assert count(page, "count-active") == 3
    assert count(page, "count-campaigns") == 2
    assert count(page, "count-opt-ins") == 3


def test_signed_out_visitors_are_sent_to_sign_in(client, db):
    response = client.get(SETTINGS)
    assert response["Location"] == f"{reverse('accounts:login')}?next={SETTINGS}"


def test_a_user_of_no_organization_gets_a_403_page(client, db):
    user = get_user_model().objects.create_user("loner", password="s3cret-Pass-123")
    client.force_login(user)
    response = client.get(DASHBOARD)
    assert response.status_code == 403
    assert "does not belong to any organization" in response.content.decode()


def test_staff_cannot_reach_administrator_pages(client, make_user, organization):
    client.force_login(make_user(organization, role=Role.STAFF))
    response = client.get(SETTINGS)
    assert response.status_code == 403
    assert "Only Administrators of Save the Rivers can open this page." in response.content.decode()
    assert client.post(SETTINGS, {"name": "Hijacked"}).status_code == 403
    organization.refresh_from_db()
    assert organization.name == "Save the Rivers"
    assert 'href="/datasync/"' not in client.get(DASHBOARD).content.decode()


def test_administrators_see_data_sync_and_settings(client, admin_user):
    client.force_login(admin_user)
    page = client.get(DASHBOARD).content.decode()
    assert 'href="/datasync/"' in page
    assert client.get(SETTINGS).status_code == 200


def test_role_is_per_organization(client, make_user, organization, other_organization):
    user = make_user(organization, role=Role.ADMINISTRATOR, username="dana")
    Membership.objects.create(user=user, organization=other_organization, role=Role.STAFF)
    client.force_login(user)
    client.post(SWITCH, {"organization": organization.pk})
    assert client.get(SETTINGS).status_code == 200
    client.post(SWITCH, {"organization": other_organization.pk})
    assert client.get(SETTINGS).status_code == 403


def test_switching_organization(client, make_user, organization, other_organization, make_organization):
    user = make_user(organization, username="dana")
    Membership.objects.create(user=user, organization=other_organization, role=Role.STAFF)
    stranger = make_organization("Forest Friends")
    client.force_login(user)

    page = client.get(DASHBOARD).content.decode()
    # Alphabetical first is the default; the switcher lists both memberships only.
    assert "<h1>Clean Air Now</h1>" in page
    assert '<label for="organization-switcher">Organization</label>' in page
    assert "Forest Friends" not in page

    response = client.post(SWITCH, {"organization": organization.pk}, follow=True)
    assert "<h1>Save the Rivers</h1>" in response.content.decode()
    assert "Now working in Save the Rivers." in response.content.decode()

    assert client.post(SWITCH, {"organization": stranger.pk}).status_code == 404
    assert client.post(SWITCH, {"organization": "not-a-number"}).status_code == 404
    assert client.session[SESSION_KEY] == organization.pk
    assert client.get(SWITCH).status_code == 405


def test_a_single_membership_shows_no_switcher(client, admin_user):
    client.force_login(admin_user)
    page = client.get(DASHBOARD).content.decode()
    assert 'class="organization-name">Save the Rivers<' in page
    assert "organization-switcher" not in page


def test_losing_the_chosen_membership_falls_back_to_another(
    client, make_user, organization, other_organization
):
    user = make_user(organization, username="dana")
    membership = Membership.objects.create(user=user, organization=other_organization)
    client.force_login(user)
    client.post(SWITCH, {"organization": other_organization.pk})
    membership.delete()
    assert "<h1>Save the Rivers</h1>" in client.get(DASHBOARD).content.decode()


def test_organization_settings_save(client, admin_user, organization):
    client.force_login(admin_user)
    data = {
        "name": "Save the Rivers Fund",
        "time_zone": "Europe/London",
        "phone_region": "gb",
        "sending_window_start": "08:30",
        "sending_window_end": "21:00",
    }
    response = client.post(SETTINGS, data, follow=True)
    assert "Organization settings saved." in response.content.decode()
    organization.refresh_from_db()
    assert (organization.name, organization.time_zone, organization.phone_region) == (
        "Save the Rivers Fund",
        "Europe/London",
        "GB",
    )
    assert f"{organization.sending_window_start:%H:%M}" == "08:30"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("time_zone", "Mars/Olympus", "Time zone</a>: &#x27;Mars/Olympus&#x27; is not a time zone name"),
        ("phone_region", "XX", "Phone region</a>: &#x27;XX&#x27; is not a two-letter phone region"),
        (
            "sending_window_end",
            "07:00",
            "Sending window end</a>: Sending window end 07:00 must be later than its start 09:00.",
        ),
        (
            "sending_window_start",
            "25:99",
            'Sending window start</a>: Enter a valid time. <span class="entered">(entered: “25:99”)',
        ),
    ],
)
def test_bad_organization_settings_are_refused_naming_field_and_value(
    client, admin_user, organization, field, value, message
):
    client.force_login(admin_user)
    data = {
        "name": "Renamed",
        "time_zone": "America/New_York",
        "phone_region": "US",
        "sending_window_start": "09:00",
        "sending_window_end": "20:00",
        field: value,
    }
    response = client.post(SETTINGS, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    organization.refresh_from_db()
    assert organization.name == "Save the Rivers"
