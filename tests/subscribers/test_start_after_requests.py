"""START after other requests reached a stopped number: it restores what the STOP stopped, answers a
request for one of those campaigns, and activates nothing the person did not stop; its reply says which."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from lumisync.messaging.models import Message
from lumisync.messaging.services import send_due_messages
from lumisync.subscribers.inbound import (
    CONFIRM_PENDING_REPLY,
    NOTHING_TO_START_REPLY,
    RESTARTED_REPLY,
    STILL_SUBSCRIBED_REPLY,
    handle_inbound_text,
)
from lumisync.subscribers.models import Channel, ConsentEvent, OptInPath, Profile, ProfileStatus, Subscription
from lumisync.subscribers.services import Outcome, opt_in, opt_in_new_profiles, opt_out, restart

from .conftest import PROMPT

pytestmark = pytest.mark.django_db

NUMBER = "+12025550143"
ORG = {"organization": "Save the Rivers"}
NOON = dt.datetime(2026, 6, 11, 16, 0, tzinfo=dt.UTC)  # 12:00 in Washington DC


def statuses(profile) -> dict[str, str]:
    return dict(Subscription.objects.filter(profile=profile).values_list("campaign__name", "status"))


def subscription(profile, campaign) -> Subscription:
    return Subscription.objects.select_related("activated_by").get(profile=profile, campaign=campaign)


@pytest.fixture
def spring_form(campaign):
    """A second web form for the River alerts campaign, asking for a YES."""
    return OptInPath.objects.create(
        organization=campaign.organization,
        campaign=campaign,
        name="Spring drive form",
        welcome_message="River alerts: welcome from the spring drive. Reply HELP for help, STOP to end.",
        confirmation_prompt=PROMPT,
    )


def test_start_answers_an_api_request_for_a_stopped_campaign(organization, profile, web_path):
    opt_in(profile, web_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")
    request = opt_in(profile, web_path, channel=Channel.API, actor="API key lsk_test")
    assert request.outcome == Outcome.PENDING_CONFIRMATION

    assert handle_inbound_text(organization, NUMBER, "START") == [RESTARTED_REPLY.format(**ORG)]

    sub = subscription(profile, web_path.campaign)
    assert sub.status == Subscription.Status.ACTIVE and sub.opt_in_path == web_path
    assert sub.activated_by.actor == NUMBER
    assert "API request" in sub.activated_by.source_detail
    assert Message.objects.filter(profile=profile, kind=Message.Kind.WELCOME).count() == 1


def test_start_answers_a_keyword_request_for_a_stopped_campaign(organization, profile, web_path, campaign):
    OptInPath.objects.create(
        organization=organization,
        campaign=campaign,
        name="RAIN keyword",
        kind=OptInPath.Kind.KEYWORD,
        keyword="RAIN",
        confirmation_prompt=PROMPT,
    )
    opt_in(profile, web_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")
    handle_inbound_text(organization, NUMBER, "rain")
    assert statuses(profile) == {"River alerts": "pending"}

    assert handle_inbound_text(organization, NUMBER, "START") == [RESTARTED_REPLY.format(**ORG)]

    sub = subscription(profile, campaign)
    assert sub.status == Subscription.Status.ACTIVE
    assert sub.opt_in_path == web_path, "the subscription the STOP ended, not a new join by keyword"
    assert "Text message request" in sub.activated_by.source_detail


@pytest.mark.parametrize("inactive", ["request", "original", "both"])
def test_start_restores_whatever_paths_have_been_deactivated_since(
    organization, profile, web_path, spring_form, inactive
):
    opt_in(profile, web_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")
    opt_in(profile, spring_form, channel=Channel.WEB, actor="spring form")
    prompt = Message.objects.get(profile=profile, kind=Message.Kind.CONFIRMATION)
    for path, name in ((spring_form, "request"), (web_path, "original")):
        if inactive in (name, "both"):
            path.active = False
            path.save()

    assert handle_inbound_text(organization, NUMBER, "START") == [RESTARTED_REPLY.format(**ORG)]
    send_due_messages(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))

    sub = subscription(profile, web_path.campaign)
    assert (sub.status, sub.opt_in_path) == (Subscription.Status.ACTIVE, web_path)
    assert sub.activated_by.opt_in_path == web_path
    prompt.refresh_from_db()
    assert prompt.status == Message.Status.CANCELLED
    assert list(Message.objects.filter(profile=profile, kind=Message.Kind.WELCOME).values_list("body")) == [
        (web_path.welcome_message,)
    ], "no welcome from the spring form"


def test_start_leaves_a_request_for_a_campaign_the_stop_did_not_stop_waiting_for_yes(
    organization, profile, web_path, confirm_path
):
    handle_inbound_text(organization, NUMBER, "STOP")
    opt_in(profile, web_path, channel=Channel.WEB)

    replies = handle_inbound_text(organization, NUMBER, "START")

    assert replies == [CONFIRM_PENDING_REPLY.format(**ORG, campaign="River alerts")]
    assert statuses(profile) == {"River alerts": "pending"}
    profile.refresh_from_db()
    assert not profile.is_globally_opted_out and profile.status == ProfileStatus.NO_SUBSCRIPTIONS

    handle_inbound_text(organization, NUMBER, "YES")
    assert statuses(profile) == {"River alerts": "active"}


def test_start_keeps_a_new_keyword_request_on_a_confirmation_path_pending(
    organization, profile, web_path, confirm_path
):
    confirm_path.kind, confirm_path.keyword = OptInPath.Kind.KEYWORD, "HELPOUT"
    confirm_path.save()
    opt_in(profile, web_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")
    handle_inbound_text(organization, NUMBER, "helpout")

    assert handle_inbound_text(organization, NUMBER, "START") == [RESTARTED_REPLY.format(**ORG)]

    assert statuses(profile) == {"River alerts": "active", "Volunteer news": "pending"}


@pytest.mark.parametrize("channel", [Channel.LUMINATE, Channel.WEB, Channel.API, Channel.REFERRAL])
def test_start_never_activates_a_request_that_was_unconfirmed_when_the_stop_came(
    organization, profile, web_path, confirm_path, channel
):
    opt_in(profile, web_path, channel=Channel.WEB)
    assert opt_in(profile, confirm_path, channel=channel).outcome == Outcome.PENDING_CONFIRMATION
    handle_inbound_text(organization, NUMBER, "STOP")

    handle_inbound_text(organization, NUMBER, "START")

    assert statuses(profile) == {"River alerts": "active", "Volunteer news": "opted_out"}


def test_a_luminate_sync_after_the_stop_creates_nothing_for_start_to_answer(
    organization, web_path, confirm_path
):
    profile = Profile.objects.create(organization=organization, phone_number=NUMBER, source=Channel.LUMINATE)
    [first] = opt_in_new_profiles([(profile, web_path)], channel=Channel.LUMINATE)
    assert first.outcome == Outcome.ACTIVATED
    handle_inbound_text(organization, NUMBER, "STOP")
    assert opt_in(profile, confirm_path, channel=Channel.LUMINATE).outcome == Outcome.REFUSED_OPTED_OUT

    handle_inbound_text(organization, NUMBER, "START")

    assert statuses(profile) == {"River alerts": "active"}


def test_start_after_a_second_stop_restores_what_the_first_stopped(organization, profile, web_path):
    opt_in(profile, web_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")
    opt_in(profile, web_path, channel=Channel.WEB, actor="web form")
    handle_inbound_text(organization, NUMBER, "STOP")  # refuses the web form's request

    assert handle_inbound_text(organization, NUMBER, "START") == [RESTARTED_REPLY.format(**ORG)]

    sub = subscription(profile, web_path.campaign)
    assert sub.status == Subscription.Status.ACTIVE
    assert sub.activated_by.source_detail == "Texted START", "the refused request is not what START answered"


def test_start_respects_an_opt_out_of_the_campaign_made_after_the_stop(
    organization, profile, web_path, other_path
):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_in(profile, other_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_out(profile, web_path.campaign, channel=Channel.API, actor="crm")

    handle_inbound_text(organization, NUMBER, "START")

    assert statuses(profile) == {"River alerts": "opted_out", "Volunteer news": "active"}


def test_start_restores_only_what_the_stop_in_force_stopped(organization, profile, web_path, other_path):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_in(profile, other_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")
    opt_in(profile, web_path, channel=Channel.SMS, actor=NUMBER)  # rejoins River alerts only
    handle_inbound_text(organization, NUMBER, "STOP")
    opt_in(profile, other_path, channel=Channel.WEB, actor="volunteer form")

    handle_inbound_text(organization, NUMBER, "START")

    assert statuses(profile) == {"River alerts": "active", "Volunteer news": "pending"}


def test_stop_and_start_within_one_clock_tick_still_restore(organization, profile, web_path):
    with time_machine.travel(NOON, tick=False):
        opt_in(profile, web_path, channel=Channel.WEB)
        handle_inbound_text(organization, NUMBER, "STOP")
        handle_inbound_text(organization, NUMBER, "START")
        handle_inbound_text(organization, NUMBER, "STOP")
        opt_in(profile, web_path, channel=Channel.WEB)

        assert handle_inbound_text(organization, NUMBER, "START") == [RESTARTED_REPLY.format(**ORG)]

    assert statuses(profile) == {"River alerts": "active"}


def test_second_start_changes_nothing_and_says_so(organization, profile, web_path):
    opt_in(profile, web_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")
    opt_in(profile, web_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "START")
    before = (ConsentEvent.objects.count(), Message.objects.count())

    assert handle_inbound_text(organization, NUMBER, "START") == [STILL_SUBSCRIBED_REPLY.format(**ORG)]
    assert restart(profile).outcome == Outcome.NOT_OPTED_OUT

    assert (ConsentEvent.objects.count(), Message.objects.count()) == before
    assert statuses(profile) == {"River alerts": "active"}


def test_start_from_a_number_that_only_ever_texted_stop(organization):
    handle_inbound_text(organization, NUMBER, "STOP")

    assert handle_inbound_text(organization, NUMBER, "START") == [NOTHING_TO_START_REPLY.format(**ORG)]
    profile = Profile.objects.get(phone_number=NUMBER)
    assert not profile.is_globally_opted_out
    assert list(ConsentEvent.objects.filter(profile=profile).values_list("kind", "channel")) == [
        ("opt_out", Channel.SMS),
        ("opt_in", Channel.SMS),
    ]
    assert handle_inbound_text(organization, NUMBER, "START") == [NOTHING_TO_START_REPLY.format(**ORG)]
    assert ConsentEvent.objects.filter(profile=profile).count() == 2


def test_an_opt_out_of_a_stopped_campaign_is_kept_through_start(organization, profile, web_path, other_path):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_in(profile, other_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")

    result = opt_out(profile, web_path.campaign, channel=Channel.API, actor="crm")
    assert result.outcome == Outcome.OPTED_OUT and "a START will not restore it" in result.reason
    assert (result.event.campaign, result.event.channel, result.event.actor) == (
        web_path.campaign,
        Channel.API,
        "crm",
    )
    again = opt_out(profile, web_path.campaign, channel=Channel.API, actor="crm")
    assert again.outcome == Outcome.ALREADY_OPTED_OUT and again.event is None

    handle_inbound_text(organization, NUMBER, "START")

    assert statuses(profile) == {"River alerts": "opted_out", "Volunteer news": "active"}


def test_an_opt_out_of_a_campaign_the_stop_did_not_stop_records_nothing(organization, profile, web_path):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_out(profile, web_path.campaign, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")
    before = ConsentEvent.objects.count()

    assert opt_out(profile, web_path.campaign, channel=Channel.API).outcome == Outcome.ALREADY_OPTED_OUT
    assert ConsentEvent.objects.count() == before
