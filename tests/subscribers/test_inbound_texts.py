"""What a text sent to the organization's number does."""

from __future__ import annotations

import pytest

from lumisync.messaging.models import Message
from lumisync.subscribers.inbound import (
    ALREADY_SUBSCRIBED_REPLY,
    HELP_REPLY,
    NOTHING_TO_CONFIRM_REPLY,
    RESTARTED_REPLY,
    STOP_REPLY,
    UNKNOWN_REPLY,
    handle_inbound_text,
)
from lumisync.subscribers.models import Channel, ConsentEvent, OptInPath, Profile, ProfileStatus, Subscription
from lumisync.subscribers.phones import InvalidPhoneNumber
from lumisync.subscribers.services import Outcome, opt_in, opt_out

from .conftest import PROMPT, WELCOME

pytestmark = pytest.mark.django_db

NUMBER = "+12025550143"
ORG = {"organization": "Save the Rivers"}


@pytest.mark.parametrize(
    "body", ["STOP", "stop", "  Stop. ", "STOPALL", "Unsubscribe", "cancel", "END", "quit"]
)
def test_stop_words_opt_out_of_everything(organization, profile, web_path, other_path, body):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_in(profile, other_path, channel=Channel.WEB)

    replies = handle_inbound_text(organization, NUMBER, body)

    assert replies == [STOP_REPLY.format(**ORG)]
    profile.refresh_from_db()
    assert profile.is_globally_opted_out
    assert profile.status == ProfileStatus.STOPPED
    assert set(profile.subscriptions.values_list("status", flat=True)) == {Subscription.Status.OPTED_OUT}
    event = ConsentEvent.objects.get(profile=profile, kind=ConsentEvent.Kind.OPT_OUT)
    assert (event.channel, event.actor, event.campaign) == (Channel.SMS, NUMBER, None)
    assert body.strip(" .").lower() in event.source_detail.lower()


def test_stop_from_an_unknown_number_is_remembered_against_later_imports(organization, web_path):
    assert handle_inbound_text(organization, "+12025550177", "STOP") == [STOP_REPLY.format(**ORG)]

    profile = Profile.objects.get(organization=organization, phone_number="+12025550177")
    assert profile.is_globally_opted_out
    assert profile.source == Channel.SMS
    assert opt_in(profile, web_path, channel=Channel.LUMINATE).outcome == Outcome.REFUSED_OPTED_OUT


def test_help_answers_and_changes_nothing(organization, profile, web_path):
    opt_in(profile, web_path, channel=Channel.WEB)

    assert handle_inbound_text(organization, NUMBER, " help ") == [HELP_REPLY.format(**ORG)]
    assert ConsentEvent.objects.count() == 1


def test_keyword_opts_in_at_once_and_the_welcome_is_the_answer(organization, keyword_path):
    assert handle_inbound_text(organization, "(202) 555-0150", "  river ") == []

    profile = Profile.objects.get(organization=organization, phone_number="+12025550150")
    sub = profile.subscriptions.get()
    assert sub.status == Subscription.Status.ACTIVE
    assert sub.activated_by.source_detail == "Texted keyword River"
    welcome = Message.objects.get(profile=profile)
    assert (welcome.kind, welcome.body, welcome.is_reply) == (Message.Kind.WELCOME, WELCOME, True)

    again = handle_inbound_text(organization, "+12025550150", "RIVER")

    assert again == [ALREADY_SUBSCRIBED_REPLY.format(**ORG, campaign="River alerts")]
    assert Message.objects.filter(profile=profile).count() == 1


def test_keyword_with_prompt_waits_for_yes(organization, confirm_path):
    confirm_path.kind = OptInPath.Kind.KEYWORD
    confirm_path.keyword = "HELPOUT"
    confirm_path.save()

    assert handle_inbound_text(organization, NUMBER, "helpout") == []

    profile = Profile.objects.get(phone_number=NUMBER)
    assert profile.subscriptions.get().status == Subscription.Status.PENDING
    prompt = Message.objects.get(profile=profile)
    assert (prompt.kind, prompt.body, prompt.is_reply) == (Message.Kind.CONFIRMATION, PROMPT, True)

    assert handle_inbound_text(organization, NUMBER, "Yes") == []

    assert profile.subscriptions.get().status == Subscription.Status.ACTIVE
    kinds = list(Message.objects.filter(profile=profile).order_by("id").values_list("kind", flat=True))
    assert kinds == [Message.Kind.CONFIRMATION, Message.Kind.WELCOME]


def test_yes_with_nothing_pending(organization, profile):
    assert handle_inbound_text(organization, NUMBER, "YES") == [NOTHING_TO_CONFIRM_REPLY.format(**ORG)]
    assert not ConsentEvent.objects.exists()


def test_start_after_stop_resubscribes_without_a_second_welcome(organization, profile, web_path, other_path):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_in(profile, other_path, channel=Channel.WEB)
    opt_out(profile, other_path.campaign, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")

    replies = handle_inbound_text(organization, NUMBER, "unstop")

    assert replies == [RESTARTED_REPLY.format(**ORG)]
    profile.refresh_from_db()
    assert not profile.is_globally_opted_out
    assert profile.status == ProfileStatus.ACTIVE
    statuses = dict(profile.subscriptions.values_list("campaign__name", "status"))
    assert statuses == {"River alerts": "active", "Volunteer news": "opted_out"}
    assert Message.objects.filter(profile=profile, kind=Message.Kind.WELCOME).count() == 2


def test_keyword_after_stop_rejoins_that_campaign_only(organization, profile, keyword_path, other_path):
    opt_in(profile, keyword_path, channel=Channel.WEB)
    opt_in(profile, other_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")

    replies = handle_inbound_text(organization, NUMBER, "RIVER")

    assert replies == [
        "Save the Rivers: you are subscribed to River alerts. Reply HELP for help, STOP to end."
    ], "the welcome went before, so a short confirmation answers"
    statuses = dict(profile.subscriptions.values_list("campaign__name", "status"))
    assert statuses == {"River alerts": "active", "Volunteer news": "opted_out"}
    profile.refresh_from_db()
    assert not profile.is_globally_opted_out


def test_unknown_text_answers_strangers_but_not_subscribers(organization, profile, web_path):
    assert handle_inbound_text(organization, NUMBER, "what is this?") == [UNKNOWN_REPLY.format(**ORG)]
    assert not Profile.objects.exclude(pk=profile.pk).exists()

    opt_in(profile, web_path, channel=Channel.WEB)
    assert handle_inbound_text(organization, NUMBER, "thanks, see you saturday") == []


def test_keywords_and_numbers_belong_to_one_organization(organization, other_organization, keyword_path):
    their_profile = Profile.objects.create(
        organization=other_organization, phone_number=NUMBER, source=Channel.WEB
    )

    assert handle_inbound_text(other_organization, NUMBER, "RIVER") == [
        UNKNOWN_REPLY.format(organization="Clean Air Now")
    ]
    assert not Subscription.objects.exists()

    handle_inbound_text(organization, NUMBER, "STOP")
    their_profile.refresh_from_db()
    assert not their_profile.is_globally_opted_out


def test_a_sender_that_is_not_a_number_is_refused(organization):
    with pytest.raises(InvalidPhoneNumber, match="'12345'"):
        handle_inbound_text(organization, "12345", "STOP")
