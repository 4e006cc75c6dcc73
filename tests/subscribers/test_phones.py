"""Reading phone numbers into E.164 and refusing what cannot receive texts."""

from __future__ import annotations

import pytest

from lumisync.subscribers.models import Channel
from lumisync.subscribers.phones import (
    InvalidPhoneNumber,
    NotAMobileNumber,
    is_mobile,
    normalize_mobile,
    normalize_phone,
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
