"""The consent rules of subscribers.services: opt_in, confirm, restart and opt_out."""

from __future__ import annotations

import pytest

from lumisync.messaging.models import Message
from lumisync.subscribers.models import (
    Campaign,
    Channel,
    ConsentEvent,
    OptInPath,
    ProfileStatus,
    Subscription,
)
from lumisync.subscribers.services import (
    DEFAULT_CONFIRMATION_PROMPT,
    Outcome,
    confirm,
    get_or_create_profile,
    load_subscriptions,
    opt_in,
    opt_out,
    restart,
)

from .conftest import PROMPT, WELCOME

pytestmark = pytest.mark.django_db


def test_web_opt_in_activates_with_provenance_and_one_welcome(profile, web_path, outbox):
    result = opt_in(
        profile,
        web_path,
        channel=Channel.WEB,
        actor="web visitor 203.0.113.9",
        source_detail="Join form on /act",
        consent_wording="I agree to receive texts.",
    )

    assert result.outcome == Outcome.ACTIVATED
    assert result.changed
    sub = Subscription.objects.get(profile=profile)
    event = ConsentEvent.objects.get(profile=profile)
    assert sub.status == Subscription.Status.ACTIVE
    assert sub.activated_by == event == result.event
    assert sub.welcome_sent_at is not None
    assert (event.kind, event.channel, event.campaign, event.opt_in_path) == (
        ConsentEvent.Kind.OPT_IN,
        Channel.WEB,
        web_path.campaign,
        web_path,
    )
    assert (event.actor, event.source_detail, event.consent_wording) == (
        "web visitor 203.0.113.9",
        "Join form on /act",
        "I agree to receive texts.",
    )
    assert event.organization_id == profile.organization_id
    assert event.occurred_at == sub.activated_at
    welcome = outbox(profile, Message.Kind.WELCOME)
    assert [(m.body, m.subscription_id, m.is_reply) for m in welcome] == [(WELCOME, sub.pk, False)]
    profile.refresh_from_db()
    assert profile.status == ProfileStatus.ACTIVE


@pytest.mark.parametrize("channel", [Channel.WEB, Channel.SMS, Channel.LUMINATE, Channel.API])
def test_opting_in_again_changes_nothing_and_sends_no_second_welcome(
    profile, web_path, keyword_path, outbox, channel
):
    opt_in(profile, web_path, channel=Channel.WEB)

    again = opt_in(profile, keyword_path if channel == Channel.SMS else web_path, channel=channel)

    assert again.outcome == Outcome.ALREADY_ACTIVE
    assert not again.changed
    assert Subscription.objects.filter(profile=profile).count() == 1
    assert ConsentEvent.objects.filter(profile=profile).count() == 1
    assert len(outbox(profile, Message.Kind.WELCOME)) == 1


def test_path_with_prompt_waits_for_yes_then_welcomes(profile, confirm_path, outbox):
    result = opt_in(profile, confirm_path, channel=Channel.WEB, consent_wording="Sign me up")

    assert result.outcome == Outcome.PENDING_CONFIRMATION
    sub = result.subscription
    assert sub.status == Subscription.Status.PENDING
    assert sub.activated_at is None and sub.welcome_sent_at is None
    assert [m.body for m in outbox(profile)] == [PROMPT]
    assert outbox(profile)[0].kind == Message.Kind.CONFIRMATION
    assert result.event.kind == ConsentEvent.Kind.PENDING
    profile.refresh_from_db()
    assert profile.status == ProfileStatus.NO_SUBSCRIPTIONS

    confirmed = confirm(profile, actor="+12025550143")

    assert [r.outcome for r in confirmed] == [Outcome.ACTIVATED]
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.ACTIVE
    assert sub.activated_by.kind == ConsentEvent.Kind.OPT_IN
    assert sub.activated_by.channel == Channel.SMS
    assert sub.activated_by.consent_wording == PROMPT
    assert [m.kind for m in outbox(profile)] == [Message.Kind.CONFIRMATION, Message.Kind.WELCOME]
    assert outbox(profile)[1].is_reply
    profile.refresh_from_db()
    assert profile.status == ProfileStatus.ACTIVE
    assert confirm(profile) == []


@pytest.mark.parametrize("channel", [Channel.LUMINATE, Channel.IMPORT, Channel.SMS])
def test_path_with_prompt_is_pending_first_whatever_the_channel(profile, confirm_path, channel):
    assert opt_in(profile, confirm_path, channel=channel).outcome == Outcome.PENDING_CONFIRMATION


def test_second_request_while_pending_sends_no_second_prompt(profile, confirm_path, outbox):
    opt_in(profile, confirm_path, channel=Channel.WEB)

    again = opt_in(profile, confirm_path, channel=Channel.LUMINATE)

    assert again.outcome == Outcome.ALREADY_PENDING
    assert len(outbox(profile)) == 1


def test_global_opt_out_stops_every_subscription(profile, web_path, other_path, confirm_path):
    opt_in(profile, web_path, channel=Channel.WEB)
    third = Campaign.objects.create(organization=profile.organization, name="Pending one")
    pending_path = OptInPath.objects.create(
        organization=profile.organization, campaign=third, name="p", confirmation_prompt=PROMPT
    )
    opt_in(profile, pending_path, channel=Channel.WEB)

    result = opt_out(profile, channel=Channel.SMS, actor="+12025550143", source_detail="Texted STOP")

    assert result.outcome == Outcome.OPTED_OUT
    assert result.event.campaign is None
    assert result.event.kind == ConsentEvent.Kind.OPT_OUT
    profile.refresh_from_db()
    assert profile.opted_out_at == result.event.occurred_at
    assert "STOP" in profile.opted_out_source
    assert profile.status == ProfileStatus.STOPPED
    subs = Subscription.objects.filter(profile=profile)
    assert {s.status for s in subs} == {Subscription.Status.OPTED_OUT}
    assert {s.opted_out_by_id for s in subs} == {result.event.pk}
    assert len(result.affected) == 2

    again = opt_out(profile, channel=Channel.SMS)
    assert again.outcome == Outcome.ALREADY_OPTED_OUT
    assert ConsentEvent.objects.filter(profile=profile, kind=ConsentEvent.Kind.OPT_OUT).count() == 1


def test_campaign_opt_out_leaves_other_campaigns(profile, web_path, other_path):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_in(profile, other_path, channel=Channel.WEB)

    result = opt_out(profile, web_path.campaign, channel=Channel.API, actor="key crm-bridge")

    assert result.outcome == Outcome.OPTED_OUT
    statuses = dict(Subscription.objects.filter(profile=profile).values_list("campaign__name", "status"))
    assert statuses == {"River alerts": "opted_out", "Volunteer news": "active"}
    assert result.subscription.opted_out_by == result.event
    assert result.event.campaign == web_path.campaign
    assert result.event.actor == "key crm-bridge"
    profile.refresh_from_db()
    assert profile.status == ProfileStatus.ACTIVE
    assert profile.opted_out_at is None

    opt_out(profile, other_path.campaign, channel=Channel.API)
    profile.refresh_from_db()
    assert profile.status == ProfileStatus.NO_SUBSCRIPTIONS
    assert opt_out(profile, other_path.campaign, channel=Channel.API).outcome == Outcome.ALREADY_OPTED_OUT


def test_opting_out_of_a_campaign_never_joined(profile, campaign):
    result = opt_out(profile, campaign, channel=Channel.WEB)
    assert result.outcome == Outcome.NOT_SUBSCRIBED
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize("channel", [Channel.LUMINATE, Channel.IMPORT])
def test_sync_and_import_never_resubscribe_a_campaign_opt_out(profile, web_path, outbox, channel):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_out(profile, web_path.campaign, channel=Channel.SMS)
    events_before = ConsentEvent.objects.count()

    result = opt_in(profile, web_path, channel=channel, source_detail="run 7")

    assert result.outcome == Outcome.REFUSED_OPTED_OUT
    assert "Opted out of River alerts" in result.reason
    assert "only the person" in result.reason
    assert not result.changed
    assert Subscription.objects.get(profile=profile).status == Subscription.Status.OPTED_OUT
    assert ConsentEvent.objects.count() == events_before
    assert len(outbox(profile)) == 1


@pytest.mark.parametrize("channel", [Channel.LUMINATE, Channel.IMPORT])
def test_sync_never_subscribes_a_globally_opted_out_number_to_a_new_campaign(profile, web_path, channel):
    opt_out(profile, channel=Channel.SMS, source_detail="Texted STOP")

    result = opt_in(profile, web_path, channel=channel)

    assert result.outcome == Outcome.REFUSED_OPTED_OUT
    assert "all messages" in result.reason
    assert not Subscription.objects.filter(profile=profile).exists()


@pytest.mark.parametrize("channel", [Channel.WEB, Channel.API, Channel.ADMIN])
def test_web_api_or_admin_for_an_opted_out_number_only_asks(profile, web_path, outbox, channel):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_out(profile, channel=Channel.SMS, source_detail="Texted STOP")

    result = opt_in(profile, web_path, channel=channel, actor="someone")

    assert result.outcome == Outcome.PENDING_CONFIRMATION
    assert result.subscription.status == Subscription.Status.PENDING
    prompt = outbox(profile, Message.Kind.CONFIRMATION)
    expected = DEFAULT_CONFIRMATION_PROMPT.format(organization="Save the Rivers", campaign="River alerts")
    assert [m.body for m in prompt] == [expected]
    profile.refresh_from_db()
    assert profile.is_globally_opted_out

    confirm(profile)

    profile.refresh_from_db()
    assert not profile.is_globally_opted_out
    assert profile.status == ProfileStatus.ACTIVE
    assert Subscription.objects.get(profile=profile).status == Subscription.Status.ACTIVE
    assert len(outbox(profile, Message.Kind.WELCOME)) == 1, "the first welcome went already"
    lifted = ConsentEvent.objects.filter(profile=profile, kind=ConsentEvent.Kind.OPT_IN, campaign=None)
    assert lifted.count() == 1


@pytest.mark.parametrize("stop", ["globally", "from the campaign"])
def test_referral_of_an_opted_out_number_is_refused_and_sends_nothing(profile, web_path, outbox, stop):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_out(profile, campaign=web_path.campaign if stop == "from the campaign" else None, channel=Channel.SMS)

    result = opt_in(profile, web_path, channel=Channel.REFERRAL, actor="+12025550100")

    assert result.outcome == Outcome.REFUSED_OPTED_OUT
    assert "Friend referral never re-subscribes" in result.reason
    assert Subscription.objects.get(profile=profile).status == Subscription.Status.OPTED_OUT
    assert outbox(profile, Message.Kind.CONFIRMATION) == []


def test_referral_of_a_new_number_is_pending(profile, web_path, outbox):
    result = opt_in(profile, web_path, channel=Channel.REFERRAL, actor="+12025550100")

    assert result.outcome == Outcome.PENDING_CONFIRMATION
    assert [m.kind for m in outbox(profile)] == [Message.Kind.CONFIRMATION]


def test_keyword_from_the_number_reactivates_at_once(profile, web_path, keyword_path, outbox):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_out(profile, channel=Channel.SMS)

    result = opt_in(profile, keyword_path, channel=Channel.SMS, actor=profile.phone_number)

    assert result.outcome == Outcome.ACTIVATED
    profile.refresh_from_db()
    assert profile.opted_out_at is None and profile.opted_out_source == ""
    assert profile.status == ProfileStatus.ACTIVE
    sub = Subscription.objects.get(profile=profile)
    assert sub.status == Subscription.Status.ACTIVE
    assert sub.opted_out_at is None
    assert len(outbox(profile, Message.Kind.WELCOME)) == 1


def test_web_pending_for_opted_out_number_then_keyword_activates(profile, web_path, keyword_path):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_out(profile, web_path.campaign, channel=Channel.WEB)
    assert opt_in(profile, web_path, channel=Channel.WEB).outcome == Outcome.PENDING_CONFIRMATION
    assert opt_in(profile, web_path, channel=Channel.LUMINATE).outcome == Outcome.ALREADY_PENDING

    assert opt_in(profile, keyword_path, channel=Channel.SMS).outcome == Outcome.ACTIVATED


def test_restart_restores_only_what_the_stop_stopped(profile, web_path, other_path, outbox):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_in(profile, other_path, channel=Channel.WEB)
    opt_out(profile, other_path.campaign, channel=Channel.WEB)
    opt_out(profile, channel=Channel.SMS)

    result = restart(profile, actor=profile.phone_number)

    assert result.outcome == Outcome.ACTIVATED
    assert [s.campaign for s in result.affected] == [web_path.campaign]
    statuses = dict(Subscription.objects.filter(profile=profile).values_list("campaign__name", "status"))
    assert statuses == {"River alerts": "active", "Volunteer news": "opted_out"}
    assert len(outbox(profile, Message.Kind.WELCOME)) == 2, "one per campaign, none again"
    assert restart(profile).outcome == Outcome.NOT_OPTED_OUT


def test_restart_does_not_activate_a_request_nobody_confirmed(profile, web_path, confirm_path):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_in(profile, confirm_path, channel=Channel.REFERRAL, actor="+12025550100")
    opt_out(profile, channel=Channel.SMS)

    result = restart(profile)

    assert [s.campaign for s in result.affected] == [web_path.campaign]
    statuses = dict(Subscription.objects.filter(profile=profile).values_list("campaign__name", "status"))
    assert statuses == {"River alerts": "active", "Volunteer news": "opted_out"}


def test_inactive_path_subscribes_nobody(profile, web_path):
    web_path.active = False
    web_path.save()

    assert opt_in(profile, web_path, channel=Channel.WEB).outcome == Outcome.PATH_INACTIVE
    assert not Subscription.objects.exists()


def test_path_without_welcome_activates_without_message(profile, campaign, outbox):
    silent = OptInPath.objects.create(organization=campaign.organization, campaign=campaign, name="Silent")

    result = opt_in(profile, silent, channel=Channel.WEB)

    assert result.outcome == Outcome.ACTIVATED
    assert result.messages == ()
    assert outbox(profile) == []


def test_consent_event_and_change_share_one_transaction(profile, confirm_path, monkeypatch):
    from lumisync.messaging import services as outbox_services

    def broken_outbox(*args, **kwargs):
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(outbox_services, "queue_message", broken_outbox)

    with pytest.raises(RuntimeError, match="outbox unavailable"):
        opt_in(profile, confirm_path, channel=Channel.WEB)

    assert not ConsentEvent.objects.exists()
    assert not Subscription.objects.exists()


def test_every_change_appends_one_event(profile, web_path, confirm_path):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_in(profile, confirm_path, channel=Channel.API)
    confirm(profile)
    opt_out(profile, web_path.campaign, channel=Channel.ADMIN, actor="admin-save-the-rivers")
    opt_out(profile, channel=Channel.SMS)
    restart(profile)

    kinds = list(
        ConsentEvent.objects.filter(profile=profile).values_list("kind", "channel", "campaign__name")
    )
    assert kinds == [
        ("opt_in", "web", "River alerts"),
        ("pending", "api", "Volunteer news"),
        ("opt_in", "sms", "Volunteer news"),
        ("opt_out", "admin", "River alerts"),
        ("opt_out", "sms", None),
        ("opt_in", "sms", None),
        ("opt_in", "sms", "Volunteer news"),
    ]


def test_preloaded_subscription_maps_spare_the_lookup(organization, web_path, django_assert_num_queries):
    profiles = [
        get_or_create_profile(organization, f"+1202555{n:04d}", channel=Channel.LUMINATE)[0]
        for n in range(120, 125)
    ]
    opt_in(profiles[0], web_path, channel=Channel.LUMINATE)
    maps = load_subscriptions(profiles)
    assert set(maps) == {p.pk for p in profiles}

    results = [opt_in(p, web_path, channel=Channel.LUMINATE, subscriptions=maps[p.pk]) for p in profiles]

    assert [r.outcome for r in results] == [Outcome.ALREADY_ACTIVE] + [Outcome.ACTIVATED] * 4
    assert all(maps[p.pk][web_path.campaign_id].status == Subscription.Status.ACTIVE for p in profiles)
    # A savepoint, the profile lock and the release: the map answers, the subscription is not queried.
    with django_assert_num_queries(3):
        assert opt_in(profiles[1], web_path, channel=Channel.LUMINATE, subscriptions=maps[profiles[1].pk])


def test_stale_preloaded_map_cannot_create_a_second_subscription(profile, web_path, outbox):
    stale = load_subscriptions([profile])[profile.pk]
    opt_in(profile, web_path, channel=Channel.WEB)

    result = opt_in(profile, web_path, channel=Channel.LUMINATE, subscriptions=stale)

    assert result.outcome == Outcome.ALREADY_ACTIVE
    assert Subscription.objects.filter(profile=profile).count() == 1
    assert len(outbox(profile, Message.Kind.WELCOME)) == 1
    assert stale[web_path.campaign_id] == result.subscription, "the map is brought up to date"


def test_delivery_status_survives_consent_changes(profile, web_path, other_path):
    profile.status = ProfileStatus.UNDELIVERABLE
    profile.save()

    opt_in(profile, web_path, channel=Channel.WEB)
    profile.refresh_from_db()
    assert profile.status == ProfileStatus.UNDELIVERABLE

    opt_out(profile, channel=Channel.SMS)
    profile.refresh_from_db()
    assert profile.status == ProfileStatus.STOPPED


def test_consent_is_scoped_to_the_organization(profile, other_organization):
    foreign_campaign = Campaign.objects.create(organization=other_organization, name="River alerts")
    foreign_path = OptInPath.objects.create(
        organization=other_organization, campaign=foreign_campaign, name="Their form"
    )

    with pytest.raises(ValueError, match="another organization"):
        opt_in(profile, foreign_path, channel=Channel.WEB)
    with pytest.raises(ValueError, match="another organization"):
        opt_out(profile, foreign_campaign, channel=Channel.WEB)

    twin, created = get_or_create_profile(other_organization, profile.phone_number, channel=Channel.WEB)
    assert created and twin.pk != profile.pk
    opt_in(twin, foreign_path, channel=Channel.WEB)
    opt_out(profile, channel=Channel.SMS)
    twin.refresh_from_db()
    assert not twin.is_globally_opted_out
    assert twin.subscriptions.get().status == Subscription.Status.ACTIVE
    assert ConsentEvent.objects.filter(organization=other_organization).count() == 1


def test_campaign_opt_out_with_a_preloaded_map(profile, web_path, other_path):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_in(profile, other_path, channel=Channel.WEB)
    subs = load_subscriptions([profile])[profile.pk]

    opt_out(
        profile,
        web_path.campaign,
        channel=Channel.LUMINATE,
        source_detail="opt-in withdrawn",
        subscriptions=subs,
    )
    profile.refresh_from_db()
    assert profile.status == ProfileStatus.ACTIVE
    assert subs[web_path.campaign_id].status == Subscription.Status.OPTED_OUT

    opt_out(profile, other_path.campaign, channel=Channel.LUMINATE, subscriptions=subs)
    profile.refresh_from_db()
    assert profile.status == ProfileStatus.NO_SUBSCRIPTIONS
    assert not profile.is_globally_opted_out
