"""The parsons MobileCommons connector, unchanged, against a live server."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from requests import HTTPError

from lumisync.messaging.models import Message
from lumisync.subscribers import services as subscribers
from lumisync.subscribers.models import Channel, Profile, Subscription

mobilecommons = pytest.importorskip("parsons.mobilecommons.mobilecommons")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def connector(live_server, token):
    client = mobilecommons.MobileCommons(api_key=token)
    client.client.uri = f"{live_server.url}/api/"
    return client


def add_profiles(organization, count: int, *, start: int = 0) -> None:
    # Fixture rows only: no consent is involved, so the service's per-row checks are not needed here.
    Profile.objects.bulk_create(
        Profile(organization=organization, phone_number=f"+1202555{n:04d}", source=Channel.IMPORT)
        for n in range(start, start + count)
    )


def test_get_profiles_by_phone_with_custom_columns_and_subscriptions(connector, organization, path):
    profile, _ = subscribers.get_or_create_profile(
        organization, "+12025550143", channel=Channel.API, first_name="Ada", city="Albany"
    )
    subscribers.update_profile_fields(profile, custom_fields={"shirt size": "M"})
    subscribers.opt_in(profile, path, channel=Channel.WEB)
    add_profiles(organization, 3)

    table = connector.get_profiles(
        phones=["+1 (202) 555-0143"], include_custom_columns=True, include_subscriptions=True
    )
    assert table.num_rows == 1
    row = table[0]
    assert row["first_name"] == "Ada"
    assert row["phone_number"] == "12025550143"
    assert row["address_city"] == "Albany"
    assert row["source_type"] == "api"
    assert row["custom_columns"]["custom_column"]["name"] == "shirt size"
    subscription = row["subscriptions"]["subscription"]
    assert (subscription["campaign_name"], subscription["status"]) == ("River Alerts", "Active")


def test_get_profiles_by_date(connector, organization):
    with time_machine.travel(dt.datetime(2026, 1, 5, 15, tzinfo=dt.UTC)):
        add_profiles(organization, 2)
        Profile.objects.update(updated_at=dt.datetime(2026, 1, 5, 15, tzinfo=dt.UTC))
    add_profiles(organization, 1, start=10)

    old = connector.get_profiles(first_date="2026-01-01", last_date="2026-01-31")
    assert sorted(old["phone_number"]) == ["12025550000", "12025550001"]
    recent = connector.get_profiles(first_date="2026-02-01")
    assert list(recent["phone_number"]) == ["12025550010"]


def test_get_profiles_pages_past_1000(connector, organization):
    add_profiles(organization, 1500)
    everything = connector.get_profiles()
    assert everything.num_rows == 1500
    assert len(set(everything["id"])) == 1500
    some = connector.get_profiles(limit=1200)
    assert some.num_rows == 1200


def test_create_profile_with_opt_in_path_and_custom_columns(connector, organization, path):
    profile_id = connector.create_profile(
        "202-555-0143",
        first_name="Grace",
        last_name="Hopper",
        zip="12207",
        addressline1="1 Main St",
        city="Albany",
        state="NY",
        opt_in_path_id=path.pk,
        custom_column_values={"volunteer": "yes"},
    )
    profile = Profile.objects.get(pk=profile_id)
    assert (profile.phone_number, profile.last_name, profile.street1, profile.postal_code) == (
        "+12025550143",
        "Hopper",
        "1 Main St",
        "12207",
    )
    assert profile.custom_fields == {"volunteer": "yes"}
    assert profile.subscriptions.get().status == Subscription.Status.ACTIVE
    assert Message.objects.filter(profile=profile, kind="welcome").exists()


def test_create_profile_error_reaches_the_client(connector, path):
    with pytest.raises(HTTPError) as raised:
        connector.create_profile("12345", opt_in_path_id=path.pk)
    assert "Invalid phone number" in str(raised.value)


def test_get_campaign_subscribers(connector, organization, campaign, path):
    for n in range(3):
        profile, _ = subscribers.get_or_create_profile(
            organization, f"+120255501{n:02d}", channel=Channel.API
        )
        subscribers.opt_in(profile, path, channel=Channel.API)
    table = connector.get_campaign_subscribers(campaign.pk, opt_in_path_id=path.pk)
    assert sorted(table["phone_number"]) == ["12025550100", "12025550101", "12025550102"]
    assert set(table["status"]) == {"Active"}


def test_get_campaign_subscribers_by_date(connector, organization, campaign, path):
    for day, phone in ((5, "+12025550101"), (20, "+12025550102")):
        with time_machine.travel(dt.datetime(2026, 1, day, 15, tzinfo=dt.UTC)):
            profile, _ = subscribers.get_or_create_profile(organization, phone, channel=Channel.API)
            subscribers.opt_in(profile, path, channel=Channel.API)

    table = connector.get_campaign_subscribers(campaign.pk, first_date="2026-01-10", last_date="2026-01-31")
    assert list(table["phone_number"]) == ["12025550102"]


def test_a_key_with_its_own_company(live_server, token, organization, other_organization):
    def connector_for(company):
        client = mobilecommons.MobileCommons(api_key=token, company_id=company)
        client.client.uri = f"{live_server.url}/api/"
        return client

    add_profiles(organization, 2)
    assert connector_for(organization.slug).get_profiles().num_rows == 2
    with pytest.raises(HTTPError) as raised:
        connector_for(other_organization.slug).get_profiles()
    refusal = raised.value.__cause__.response
    assert refusal.status_code == 401
    assert (
        f"<p>This API key does not belong to company &#x27;{other_organization.slug}&#x27;.</p>"
        in refusal.text
    )
