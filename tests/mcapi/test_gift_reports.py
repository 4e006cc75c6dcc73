"""The thank-you page's gift report, /profiles/donation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lumisync.mcapi.models import DonationFormSnippet, WebSettings
from lumisync.subscribers import services as subscribers
from lumisync.subscribers.models import Channel, Donation

pytestmark = pytest.mark.django_db


@pytest.fixture
def snippet(organization, path):
    return DonationFormSnippet.objects.create(organization=organization, opt_in_path=path)


@pytest.fixture
def donor(organization):
    return subscribers.get_or_create_profile(organization, "+12025550143", channel=Channel.DONATION_FORM)[0]


def report(client, snippet, **fields):
    return client.post("/profiles/donation", {"snippet_key": snippet.key, **fields})


def gift(transaction_id="T-1001", **extra):
    return {
        "transaction_id": transaction_id,
        "form_id": "1440",
        "level_id": "2021",
        "amount": "$1,025.50",
        "donor_email": "ada@Example.ORG",
        "phone": "202-555-0143",
        "billing[street1]": "1 Main St",
        "billing[city]": "Albany",
        "billing[state]": "NY",
        "billing[postal_code]": "12207",
        **extra,
    }


def test_gift_is_recorded_against_the_donor(client, snippet, donor):
    response = report(client, snippet, **gift())
    assert response.status_code == 200 and response.json() == {"success": True}, "nothing about the donor"
    donation = Donation.objects.get()
    assert (donation.profile, donation.form_id, donation.level_id, donation.amount, donation.donor_email) == (
        donor,
        "1440",
        "2021",
        Decimal("1025.50"),
        "ada@example.org",
    )
    assert donation.channel == Channel.DONATION_FORM
    donor.refresh_from_db()
    assert (donor.billing_street1, donor.billing_city, donor.billing_postal_code) == (
        "1 Main St",
        "Albany",
        "12207",
    )


def test_same_transaction_twice_is_one_gift(client, snippet, donor):
    report(client, snippet, **gift())
    again = report(client, snippet, **gift())
    assert again.json() == {"success": True}, "the answer does not say the gift was known"
    assert Donation.objects.count() == 1


def test_newest_billing_address_wins(client, snippet, donor):
    report(client, snippet, **gift())
    report(client, snippet, **gift("T-1002", **{"billing[street1]": "9 River Rd", "billing[city]": "Troy"}))
    donor.refresh_from_db()
    assert (donor.billing_street1, donor.billing_city) == ("9 River Rd", "Troy")


def test_gift_without_a_known_person_is_kept_unlinked(client, snippet):
    response = report(client, snippet, **gift(phone=""))
    assert response.json() == {"success": True}
    assert Donation.objects.get().profile is None


def test_bad_values_name_the_field(client, snippet):
    missing = report(client, snippet, **gift(transaction_id=""))
    assert missing.status_code == 400 and "transaction_id is required" in missing.json()["error"]["message"]
    amount = report(client, snippet, **gift(amount="lots"))
    assert "amount 'lots'" in amount.json()["error"]["message"]
    address = report(client, snippet, **gift(**{"billing[planet]": "Mars"}))
    assert "'planet'" in address.json()["error"]["message"]
    assert not Donation.objects.exists()


def test_unknown_snippet_key(client, snippet):
    response = client.post("/profiles/donation", {"snippet_key": "ds_nope", **gift()})
    assert response.status_code == 400 and "snippet_key 'ds_nope'" in response.json()["error"]["message"]


def test_origin_must_be_allowed_when_a_list_is_set(client, organization, snippet):
    WebSettings.objects.create(organization=organization, allowed_origins="https://secure.example.org")
    refused = client.post(
        "/profiles/donation",
        {"snippet_key": snippet.key, **gift()},
        headers={"Origin": "https://evil.example"},
    )
    assert refused.status_code == 403 and not Donation.objects.exists()
    allowed = client.post(
        "/profiles/donation",
        {"snippet_key": snippet.key, **gift()},
        headers={"Origin": "https://secure.example.org"},
    )
    assert allowed.status_code == 200
    assert allowed["Access-Control-Allow-Origin"] == "https://secure.example.org"
