"""opt_in_new_profiles: the rules of opt_in, applied to many new profiles in a few bulk queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lumisync.messaging.models import Message
from lumisync.subscribers.models import Channel, ConsentEvent, Profile, ProfileStatus, Subscription
from lumisync.subscribers.services import (
    Outcome,
    get_or_create_profile,
    load_subscriptions,
    opt_in,
    opt_in_new_profiles,
    opt_out,
)

pytestmark = pytest.mark.django_db


def new(organization, phone):
    return get_or_create_profile(organization, phone, channel=Channel.LUMINATE)[0]


def test_new_profiles_are_subscribed_welcomed_once_and_recorded(organization, web_path):
    profiles = [new(organization, f"20255501{n:02d}") for n in range(3)]

    results = opt_in_new_profiles(
        [(profile, web_path) for profile in profiles], channel=Channel.LUMINATE, source_detail="run 1"
    )

    assert [result.outcome for result in results] == [Outcome.ACTIVATED] * 3
    for profile, result in zip(profiles, results, strict=True):
        sub = Subscription.objects.get(profile=profile)
        assert sub.status == Subscription.Status.ACTIVE and sub.welcome_sent_at is not None
        assert sub.activated_by == result.event
        assert (result.event.kind, result.event.channel, result.event.source_detail) == (
            ConsentEvent.Kind.OPT_IN,
            Channel.LUMINATE,
            "run 1",
        )
        welcome = Message.objects.get(profile=profile)
        assert welcome.kind == Message.Kind.WELCOME and welcome.subscription == sub and not welcome.is_reply
        profile.refresh_from_db()
        assert profile.status == ProfileStatus.ACTIVE
    again = opt_in(profiles[0], web_path, channel=Channel.LUMINATE)
    assert again.outcome == Outcome.ALREADY_ACTIVE and Message.objects.count() == 3


def test_a_path_asking_for_yes_makes_the_subscription_pending_with_its_prompt(organization, confirm_path):
    profile = new(organization, "2025550110")

    [result] = opt_in_new_profiles([(profile, confirm_path)], channel=Channel.LUMINATE)

    assert result.outcome == Outcome.PENDING_CONFIRMATION
    assert Subscription.objects.get(profile=profile).status == Subscription.Status.PENDING
    assert list(Message.objects.values_list("kind", "body")) == [
        (Message.Kind.CONFIRMATION, confirm_path.confirmation_prompt)
    ]


def test_an_opted_out_or_already_subscribed_profile_follows_opt_in_itself(organization, web_path):
    stopped = new(organization, "2025550111")
    opt_out(stopped, channel=Channel.SMS, source_detail="STOP")
    subscribed = new(organization, "2025550112")
    opt_in(subscribed, web_path, channel=Channel.WEB)

    results = opt_in_new_profiles([(stopped, web_path), (subscribed, web_path)], channel=Channel.LUMINATE)

    assert [result.outcome for result in results] == [Outcome.REFUSED_OPTED_OUT, Outcome.ALREADY_ACTIVE]
    assert not Subscription.objects.filter(profile=stopped).exists()
    assert Message.objects.filter(profile=subscribed).count() == 1


def test_an_inactive_path_subscribes_nobody(organization, web_path):
    web_path.active = False
    web_path.save()
    profile = new(organization, "2025550113")

    [result] = opt_in_new_profiles([(profile, web_path)], channel=Channel.LUMINATE)

    assert result.outcome == Outcome.PATH_INACTIVE
    assert not Subscription.objects.exists() and not Message.objects.exists()


def test_given_subscriptions_stand_for_the_lookup_and_unnamed_profiles_are_still_looked_up(
    organization, web_path
):
    fresh = new(organization, "2025550114")
    subscribed = new(organization, "2025550115")
    opt_in(subscribed, web_path, channel=Channel.WEB)
    unnamed = new(organization, "2025550116")
    opt_in(unnamed, web_path, channel=Channel.WEB)
    known = load_subscriptions([fresh, subscribed])

    with CaptureQueriesContext(connection) as queries:
        results = opt_in_new_profiles(
            [(fresh, web_path), (subscribed, web_path), (unnamed, web_path)],
            channel=Channel.LUMINATE,
            subscriptions=known,
        )

    [lookup] = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT") and '"profile_id" IN' in query["sql"]
    ]
    assert f"IN ({unnamed.pk})" in lookup

    assert [result.outcome for result in results] == [
        Outcome.ACTIVATED,
        Outcome.ALREADY_ACTIVE,
        Outcome.ALREADY_ACTIVE,
    ]
    assert Subscription.objects.filter(profile__in=[subscribed, unnamed]).count() == 2
    assert Message.objects.filter(profile__in=[subscribed, unnamed]).count() == 2


def test_an_undeliverable_new_profile_keeps_its_status(organization, web_path):
    profile = new(organization, "2025550117")
    profile.status = ProfileStatus.UNDELIVERABLE
    profile.save()

    [result] = opt_in_new_profiles([(profile, web_path)], channel=Channel.LUMINATE)

    assert result.outcome == Outcome.ACTIVATED
    profile.refresh_from_db()
    assert profile.status == ProfileStatus.UNDELIVERABLE


def test_a_delivery_status_stored_since_the_profile_was_read_is_kept(organization, web_path):
    profile = new(organization, "2025550118")
    Profile.objects.filter(pk=profile.pk).update(status=ProfileStatus.HARD_BOUNCE)

    [result] = opt_in_new_profiles([(profile, web_path)], channel=Channel.LUMINATE)

    assert result.outcome == Outcome.ACTIVATED
    assert Profile.objects.get(pk=profile.pk).status == ProfileStatus.HARD_BOUNCE
