"""Reading phone numbers into E.164 and refusing what cannot receive texts."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import timezone as phone_timezone

from lumisync.subscribers.models import Channel
from lumisync.subscribers.phones import (
    InvalidPhoneNumber,
    NotAMobileNumber,
    is_mobile,
    normalize_mobile,
    normalize_phone,
    read_mobile,
    time_zone_name,
)
from lumisync.subscribers.services import get_or_create_profile


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(202) 555-0143", "US", "+12025550143"),
        ("202.555.0143", "US", "+12025550143"),
        (" +1 202 555 0143 ", "GB", "+12025550143"),
        ("07400 123456", "GB", "+447400123456"),
        ("+44 7400 123456", "US", "+447400123456"),
    ],
)
def test_numbers_become_e164_with_the_organizations_region(raw, region, expected):
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize("raw", ["12345", "not a number", "+1 555 555 0100", ""])
def test_invalid_numbers_raise_an_error_naming_the_value(raw):
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone(raw, "US")
    assert repr(raw) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_mobiles_and_undecided_plans_may_receive_texts_fixed_lines_not():
    assert is_mobile("+447400123456")  # a UK mobile
    assert is_mobile("+12025550143")  # US plans do not tell fixed lines from mobiles
    assert not is_mobile("+442079460000")  # a London fixed line


def test_a_fixed_line_is_refused_with_its_value():
    with pytest.raises(NotAMobileNumber, match="'020 7946 0000' is a fixed line"):
        normalize_mobile("020 7946 0000", "GB")


@pytest.mark.django_db
def test_profiles_need_a_number_that_takes_texts(make_organization):
    london = make_organization("Thames Trust", phone_region="GB")

    with pytest.raises(NotAMobileNumber, match="020 7946 0000"):
        get_or_create_profile(london, "020 7946 0000", channel=Channel.WEB)
    profile, created = get_or_create_profile(london, "07400 123456", channel=Channel.WEB)
    assert created and profile.phone_number == "+447400123456"


def _library_zone(e164: str) -> str:
    """phonenumbers' own answer, the long way: parse, then time_zones_for_number (which types again)."""
    zones = phone_timezone.time_zones_for_number(phonenumbers.parse(e164))
    return zones[0] if len(zones) == 1 and zones[0] != "Etc/Unknown" else ""


@pytest.mark.parametrize(
    ("raw", "region", "zone"),
    [
        ("(415) 555-0143", "US", "America/Los_Angeles"),
        ("312 555 0143", "US", "America/Chicago"),
        ("06 12 34 56 78", "FR", "Europe/Paris"),  # a mobile: not geographical, one zone for the country
        ("07400 123456", "GB", ""),  # a UK mobile may be in London, Jersey, Guernsey or the Isle of Man
        ("0412 345 678", "AU", ""),  # an Australian mobile: the country spans several zones
        ("+1 800 555 0143", "US", ""),  # toll-free: every North American zone (and not a mobile)
    ],
)
def test_a_mobile_is_read_once_with_its_time_zone(raw, region, zone):
    try:
        mobile = read_mobile(raw, region)
    except NotAMobileNumber:
        assert time_zone_name(normalize_phone(raw, region)) == zone
        return
    assert mobile.zone == zone == time_zone_name(mobile.e164)
    assert mobile.e164 == normalize_mobile(raw, region)


def test_time_zones_agree_with_the_library_on_random_numbers():
    regions = ["US", "CA", "GB", "AU", "BR", "MX", "IN", "DE", "FR", "IT", "RU", "ID", "AR", "NZ"]
    chooser = random.Random(20261127)
    checked = 0
    for _ in range(4000):
        region = chooser.choice(regions)
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        digits = str(example.national_number)
        # Vary the last digits of a valid mobile so most stay valid and some fall outside the plan.
        tail = "".join(chooser.choice("0123456789") for _ in range(min(4, len(digits) - 2)))
        raw = f"+{example.country_code}{digits[: len(digits) - len(tail)]}{tail}"
        try:
            mobile = read_mobile(raw, region)
        except InvalidPhoneNumber:
            continue
        checked += 1
        assert mobile.zone == _library_zone(mobile.e164) == time_zone_name(mobile.e164), raw
    assert checked > 2000
