"""The profile pages show every time in the organization's own time zone, and say which zone that is."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from lumisync.subscribers import services
from lumisync.subscribers.models import Campaign, Channel, OptInPath

# 18:30 UTC on 4 July is 11:30 in Los Angeles (PDT, UTC-7) and 14:30 in New York (EDT, UTC-4).
JOINED_AT = datetime(2026, 7, 4, 18, 30, tzinfo=UTC)
# 03:05 UTC on 15 January is still the 14th in Los Angeles: 19:05 PST (UTC-8).
GIFT_AT = datetime(2026, 1, 15, 3, 5, tzinfo=UTC)
# 10:00 UTC on 8 March 2026 is the instant Los Angeles moves its clocks on: 03:00 PDT.
CALL_AT = datetime(2026, 3, 8, 10, 0, tzinfo=UTC)


@pytest.fixture
def pacific(make_organization):
    return make_organization("Pacific Rivers", time_zone="America/Los_Angeles")


@pytest.fixture
def signed_in(client, make_user, pacific):
    client.force_login(make_user(pacific, password=None))
    return client


@pytest.fixture
def member(pacific):
    campaign = Campaign.objects.create(organization=pacific, name="Salmon Alerts")
    path = OptInPath.objects.create(
        organization=pacific,
        campaign=campaign,
        name="Website",
        welcome_message="Salmon Alerts: welcome! Reply HELP for help, STOP to end.",
    )
    with time_machine.travel(JOINED_AT, tick=False):
        profile, _ = services.get_or_create_profile(pacific, "+1 415 555 0143", channel=Channel.WEB)
        services.opt_in(profile, path, channel=Channel.WEB, actor="web form")
    services.record_donation(
        pacific,
        transaction_id="CONF-9",
        amount="10.00",
        profile=profile,
        channel=Channel.LUMINATE,
        donated_at=GIFT_AT,
    )
    services.record_call(profile, alert_id="77", recipient_name="Rep. Example", started_at=CALL_AT)
    return profile


def table(page: str, element_id: str) -> str:
    return page.split(f'id="{element_id}"')[1].split("</table>")[0]


def test_profile_detail_shows_times_in_the_organizations_zone(signed_in, member):
    page = signed_in.get(reverse("subscribers:profile_detail", args=[member.pk])).content.decode()
    assert "Times are in America/Los_Angeles." in page
    assert "<dt>Created</dt><dd>2026-07-04 11:30</dd>" in page
    assert "2026-07-04 11:30 · Web form by web form" in table(page, "subscriptions")
    assert '<td class="nowrap">2026-07-04 11:30:00</td>' in table(page, "consent-history")
    assert '<td class="nowrap">2026-01-14 19:05</td>' in table(page, "donations")
    assert '<td class="nowrap">2026-03-08 03:00</td>' in table(page, "calls")
    assert '<td class="nowrap">2026-07-04 11:30</td>' in table(page, "messages")
    for utc in ("2026-07-04 18:30", "2026-01-15", "2026-03-08 10:00"):
        assert utc not in page, utc


def test_profile_list_shows_times_in_the_organizations_zone(signed_in, member):
    page = signed_in.get(reverse("subscribers:profile_list")).content.decode()
    assert '<td class="nowrap">2026-07-04 11:30</td>' in page
    assert "18:30" not in page


def test_a_new_time_zone_moves_the_times_shown(signed_in, member, pacific):
    pacific.time_zone = "Asia/Kolkata"
    pacific.save()
    page = signed_in.get(reverse("subscribers:profile_detail", args=[member.pk])).content.decode()
    # 18:30 UTC plus five and a half hours is midnight of the next day.
    assert "Times are in Asia/Kolkata." in page
    assert "<dt>Created</dt><dd>2026-07-05 00:00</dd>" in page
    assert '<td class="nowrap">2026-01-15 08:35</td>' in table(page, "donations")


def test_each_organization_reads_its_own_zone(client, make_user, organization, member):
    with time_machine.travel(JOINED_AT, tick=False):
        services.get_or_create_profile(organization, "+1 202 555 0143", channel=Channel.WEB)
    client.force_login(make_user(organization, password=None))
    page = client.get(reverse("subscribers:profile_list")).content.decode()
    assert '<td class="nowrap">2026-07-04 14:30</td>' in page
    assert "+14155550143" not in page
    assert client.get(reverse("subscribers:profile_detail", args=[member.pk])).status_code == 404
