"""Creating profiles and changing their fields."""

from __future__ import annotations

import pytest

from lumisync.subscribers.models import Channel, Profile, ProfileStatus
from lumisync.subscribers.services import (
    ProfileFieldError,
    get_or_create_profile,
    profiles_by_phone,
    update_profile_fields,
)

pytestmark = pytest.mark.django_db


def test_create_then_find_by_normalized_number(organization):
    profile, created = get_or_create_profile(
        organization,
        "202-555-0143",
        channel=Channel.LUMINATE,
        source_detail="run 3",
        first_name=" Ada ",
        email="Ada.Lovelace@Example.ORG",
    )

    assert created
    assert (profile.phone_number, profile.first_name, profile.email) == (
        "+12025550143",
        "Ada",
        "Ada.Lovelace@example.org",
    )
    assert (profile.source, profile.source_detail) == (Channel.LUMINATE, "run 3")
    assert profile.status == ProfileStatus.NO_SUBSCRIPTIONS

    again, created = get_or_create_profile(
        organization, "+1 202 555 0143", channel=Channel.WEB, first_name="Bob"
    )
    assert not created
    assert again.pk == profile.pk
    assert again.first_name == "Ada", "fields apply only to a new profile"
    assert again.source == Channel.LUMINATE


def test_update_changes_only_what_differs(profile, django_assert_num_queries):
    changed = update_profile_fields(
        profile, first_name="Grace", city="Arlington", custom_fields={"team": "north"}
    )
    assert changed == ["first_name", "city", "custom_fields"]
    update_profile_fields(profile, custom_fields={"shirt": "M"})

    fresh = Profile.objects.get(pk=profile.pk)
    assert (fresh.first_name, fresh.city) == ("Grace", "Arlington")
    assert fresh.custom_fields == {"team": "north", "shirt": "M"}
    with django_assert_num_queries(0):
        assert update_profile_fields(profile, first_name="Grace", city=" Arlington ") == []


def test_update_without_save_leaves_the_write_to_the_caller(profile):
    assert update_profile_fields(profile, save=False, last_name="Hopper") == ["last_name"]
    assert Profile.objects.get(pk=profile.pk).last_name == ""
    Profile.objects.bulk_update([profile], ["last_name"])
    assert Profile.objects.get(pk=profile.pk).last_name == "Hopper"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "not-an-email"}, "email 'not-an-email' is not a valid email address"),
        ({"first_name": "x" * 101}, "first_name 'xxx"),
        ({"status": "active"}, "'status' is not a profile field that can be set"),
        ({"opted_out_at": None}, "'opted_out_at' is not a profile field"),
        ({"phone_number": "+12025550100"}, "'phone_number' is not a profile field"),
        ({"custom_fields": "team=north"}, "custom_fields 'team=north' is not a mapping"),
        ({"city": ["Arlington"]}, "city ['Arlington'] is not text"),
    ],
)
def test_bad_values_are_refused_naming_profile_field_and_value(profile, fields, message):
    with pytest.raises(ProfileFieldError, match=message.replace("[", r"\[").replace("]", r"\]")) as caught:
        update_profile_fields(profile, **fields)
    assert "+12025550143" in str(caught.value)
    assert Profile.objects.get(pk=profile.pk).status == ProfileStatus.NO_SUBSCRIPTIONS


def test_a_constituent_id_links_one_profile_only(organization, profile):
    update_profile_fields(profile, constituent_id="1001")
    other, _ = get_or_create_profile(organization, "+12025550144", channel=Channel.LUMINATE)

    with pytest.raises(ProfileFieldError, match="constituent_id '1001' is already linked"):
        update_profile_fields(other, constituent_id="1001")
    with pytest.raises(ProfileFieldError, match="constituent_id '1001' is already linked"):
        get_or_create_profile(organization, "+12025550145", channel=Channel.LUMINATE, constituent_id="1001")

    update_profile_fields(profile, constituent_id=None)
    assert Profile.objects.get(pk=profile.pk).constituent_id is None
    update_profile_fields(other, constituent_id="1001")


def test_profiles_are_per_organization(organization, other_organization, profile):
    theirs, created = get_or_create_profile(other_organization, profile.phone_number, channel=Channel.WEB)
    assert created

    assert profiles_by_phone(organization, ["+12025550143", "+12025550199"]) == {"+12025550143": profile}
    assert profiles_by_phone(other_organization, ["+12025550143"]) == {"+12025550143": theirs}
