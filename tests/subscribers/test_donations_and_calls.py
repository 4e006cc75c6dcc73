"""Gifts recorded once by transaction ID, the newest billing address, and patch-through calls."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from lumisync.subscribers.models import Call, Channel, Donation, Profile
from lumisync.subscribers.services import CallError, DonationError, record_call, record_donation

pytestmark = pytest.mark.django_db

MAY_1 = dt.datetime(2026, 5, 1, 14, 0, tzinfo=dt.UTC)
JUNE_1 = dt.datetime(2026, 6, 1, 14, 0, tzinfo=dt.UTC)
OLD_ADDRESS = {"street1": "1 Old Mill Rd", "city": "Dayton", "state": "OH", "postal_code": "45402"}
NEW_ADDRESS = {"street1": "9 River St", "city": "Arlington", "state": "VA", "postal_code": "22201"}


def gift(organization, profile, transaction_id, donated_at, address, **changes):
    values = {
        "form_id": "1201",
        "level_id": "3",
        "donor_email": "Ada@Example.org",
        "amount": "25.00",
        "channel": Channel.LUMINATE,
        **changes,
    }
    return record_donation(
        organization,
        transaction_id=transaction_id,
        billing_address=address,
        profile=profile,
        donated_at=donated_at,
        **values,
    )


def test_a_gift_seen_twice_is_stored_once(organization, profile):
    first, created = gift(organization, None, "CONF-1", MAY_1, OLD_ADDRESS)
    again, created_again = gift(
        organization, profile, "CONF-1", MAY_1, OLD_ADDRESS, channel=Channel.DONATION_FORM
    )

    assert created and not created_again
    assert again.pk == first.pk
    assert Donation.objects.count() == 1
    stored = Donation.objects.get()
    assert stored.profile == profile, "the second sighting links the donor"
    assert (stored.amount, stored.donor_email, stored.channel) == (
        Decimal("25.00"),
        "Ada@example.org",
        Channel.LUMINATE,
    )


FORGED_ADDRESS = {"street1": "666 Fake St", "city": "Nowhere", "state": "NV", "postal_code": "89000"}


def test_luminates_sighting_replaces_what_the_donation_form_reported(organization, profile):
    gift(
        organization,
        profile,
        "CONF-1",
        MAY_1,
        FORGED_ADDRESS,
        channel=Channel.DONATION_FORM,
        amount="99999",
        form_id="666",
        level_id="66",
    )
    assert Profile.objects.get(pk=profile.pk).billing_street1 == "666 Fake St"

    stored, created = record_donation(
        organization,
        transaction_id="CONF-1",
        form_id="1201",
        level_id="3",
        donor_email="ada@example.org",
        amount="25.00",
        billing_address={"street1": "9 River St"},
        profile=None,
        channel=Channel.LUMINATE,
    )

    assert not created and Donation.objects.count() == 1
    stored = Donation.objects.get()
    assert (stored.amount, stored.form_id, stored.level_id, stored.channel) == (
        Decimal("25.00"),
        "1201",
        "3",
        Channel.LUMINATE,
    )
    assert (stored.billing_street1, stored.billing_city) == ("9 River St", "")
    assert (stored.profile, stored.donated_at) == (profile, MAY_1), "kept when Luminate does not say"
    profile = Profile.objects.get(pk=profile.pk)
    assert (profile.billing_street1, profile.billing_city, profile.billing_postal_code) == (
        "9 River St",
        "",
        "",
    )


def test_luminates_street_line_keeps_the_rest_of_the_address_the_form_typed_when_they_agree(
    organization, profile
):
    typed = {"street1": "9 River St", "city": "Albany", "state": "NY", "postal_code": "12207"}
    gift(organization, profile, "CONF-2", MAY_1, typed, channel=Channel.DONATION_FORM, amount="30")

    record_donation(
        organization,
        transaction_id="CONF-2",
        amount="25.00",
        billing_address={"street1": "9 River St"},
        channel=Channel.LUMINATE,
    )

    stored = Donation.objects.get(transaction_id="CONF-2")
    assert (stored.amount, stored.channel) == (Decimal("25.00"), Channel.LUMINATE)
    assert (stored.billing_street1, stored.billing_city, stored.billing_postal_code) == (
        "9 River St",
        "Albany",
        "12207",
    )
    assert Profile.objects.get(pk=profile.pk).billing_city == "Albany"


def test_luminates_sighting_moves_a_reported_gift_to_its_own_profile(organization, profile):
    gift(organization, profile, "CONF-0", MAY_1 - dt.timedelta(days=30), OLD_ADDRESS)
    gift(organization, profile, "CONF-1", MAY_1, FORGED_ADDRESS, channel=Channel.DONATION_FORM)
    donor = Profile.objects.create(
        organization=organization, phone_number="+12025550188", source=Channel.LUMINATE
    )

    gift(organization, donor, "CONF-1", MAY_1, NEW_ADDRESS)

    assert Donation.objects.get(transaction_id="CONF-1").profile == donor
    assert Profile.objects.get(pk=profile.pk).billing_street1 == "1 Old Mill Rd", "the forged address is gone"
    assert Profile.objects.get(pk=donor.pk).billing_street1 == "9 River St"


def test_a_second_report_never_replaces_luminates_record(organization, profile):
    gift(organization, profile, "CONF-1", MAY_1, NEW_ADDRESS)
    gift(organization, profile, "CONF-1", MAY_1, FORGED_ADDRESS, channel=Channel.DONATION_FORM, amount="1")

    stored = Donation.objects.get()
    assert (stored.amount, stored.billing_street1, stored.channel) == (
        Decimal("25.00"),
        "9 River St",
        Channel.LUMINATE,
    )


def test_the_newest_gift_gives_the_billing_address(organization, profile):
    gift(organization, profile, "CONF-NEW", JUNE_1, NEW_ADDRESS)
    gift(organization, profile, "CONF-OLD", MAY_1, OLD_ADDRESS)

    profile = Profile.objects.get(pk=profile.pk)
    assert (profile.billing_street1, profile.billing_city, profile.billing_postal_code) == (
        "9 River St",
        "Arlington",
        "22201",
    )

    gift(organization, profile, "CONF-NEWER", JUNE_1 + dt.timedelta(days=1), {"street1": "5 Lake Ave"})
    profile = Profile.objects.get(pk=profile.pk)
    assert (profile.billing_street1, profile.billing_city) == ("5 Lake Ave", ""), (
        "one address, replaced whole"
    )


def test_a_gift_without_address_keeps_the_one_on_file(organization, profile):
    gift(organization, profile, "CONF-1", MAY_1, NEW_ADDRESS)
    gift(organization, profile, "CONF-2", JUNE_1, {})

    assert Profile.objects.get(pk=profile.pk).billing_street1 == "9 River St"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount": "twenty"}, "Donation CONF-9: amount 'twenty' is not a number"),
        ({"amount": "-5"}, "Donation CONF-9: amount '-5' is not a valid gift amount"),
        ({"donor_email": "ada@"}, "Donation CONF-9: donor_email 'ada@' is not a valid email address"),
        ({"billing_address": {"zip": "22201"}}, "Donation CONF-9: billing address key 'zip'"),
        ({"transaction_id": " "}, "transaction_id is empty"),
    ],
)
def test_bad_gifts_are_refused_naming_transaction_field_and_value(organization, changes, message):
    values = {
        "transaction_id": "CONF-9",
        "donor_email": "ada@example.org",
        "amount": "10",
        "billing_address": {},
        "channel": Channel.DONATION_FORM,
        **changes,
    }
    with pytest.raises(DonationError, match=message):
        record_donation(organization, **values)
    assert not Donation.objects.exists()


def test_transaction_ids_are_per_organization(organization, other_organization):
    record_donation(organization, transaction_id="CONF-1", channel=Channel.LUMINATE)
    _, created = record_donation(other_organization, transaction_id="CONF-1", channel=Channel.LUMINATE)

    assert created
    assert Donation.objects.count() == 2


def test_a_gift_cannot_link_another_organizations_profile(other_organization, profile):
    with pytest.raises(ValueError, match="another organization"):
        record_donation(
            other_organization, transaction_id="CONF-1", channel=Channel.LUMINATE, profile=profile
        )


def test_calls_are_recorded(profile):
    call = record_call(
        profile,
        alert_id="88",
        recipient_id="S000148",
        recipient_name="Sen. Example",
        started_at=MAY_1,
        duration_seconds=95,
        status=Call.Status.COMPLETED,
    )

    stored = Call.objects.get()
    assert stored == call
    assert (stored.organization, stored.profile, stored.alert_id, stored.duration_seconds) == (
        profile.organization,
        profile,
        "88",
        95,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": "hung up"}, "status 'hung up' is not one of"),
        ({"duration_seconds": -3}, "duration_seconds -3"),
        ({"started_at": dt.datetime(2026, 5, 1, 14, 0)}, "started_at datetime"),
        ({"alert_id": ""}, "alert_id is empty"),
    ],
)
def test_bad_calls_are_refused(profile, changes, message):
    values = {"alert_id": "88", "started_at": MAY_1, "duration_seconds": 10, "status": "completed", **changes}
    with pytest.raises(CallError, match=message):
        record_call(profile, **values)
    assert not Call.objects.exists()
