"""Sequences of consent changes meant to break the consent rules: STOP, web forms, YES, START, keywords,
referrals, welcomes across opt-outs, and messages queued at night that consent must stop at sending."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from lumisync.messaging.models import Message
from lumisync.messaging.services import send_due_messages
from lumisync.subscribers.inbound import (
    ALREADY_SUBSCRIBED_REPLY,
    NOTHING_TO_CONFIRM_REPLY,
    NOTHING_TO_START_REPLY,
    RESTARTED_REPLY,
    STOP_REPLY,
    handle_inbound_text,
)
from lumisync.subscribers.models import Channel, ConsentEvent, Profile, ProfileStatus, Subscription
from lumisync.subscribers.services import (
    Outcome,
    get_or_create_profile,
    opt_in,
    opt_in_new_profiles,
    opt_out,
    record_donation,
)

from .conftest import PROMPT

pytestmark = pytest.mark.django_db

NUMBER = "+12025550143"
ORG = {"organization": "Save the Rivers"}
# 02:00 in Washington DC (the number's zone) in June: outside the 09:00-20:00 window.
NIGHT = dt.datetime(2026, 6, 11, 6, 0, tzinfo=dt.UTC)
MORNING_BEFORE_NINE = dt.datetime(2026, 6, 11, 11, 0, tzinfo=dt.UTC)  # 07:00 local
NINE_THIRTY = dt.datetime(2026, 6, 11, 13, 30, tzinfo=dt.UTC)  # 09:30 local


def statuses(profile) -> dict[str, str]:
    return dict(Subscription.objects.filter(profile=profile).values_list("campaign__name", "status"))


def events(profile) -> list[tuple[str, str, str | None]]:
    return list(
        ConsentEvent.objects.filter(profile=profile)
        .order_by("id")
        .values_list("kind", "channel", "campaign__name")
    )


def sent_kinds(profile) -> list[str]:
    return list(
        Message.objects.filter(profile=profile, status=Message.Status.SENT)
        .order_by("id")
        .values_list("kind", flat=True)
    )


def test_stop_then_web_form_then_yes_activates_with_the_persons_provenance_then_stop_again(
    organization, profile, web_path
):
    opt_in(profile, web_path, channel=Channel.WEB)
    assert handle_inbound_text(organization, NUMBER, "STOP") == [STOP_REPLY.format(**ORG)]

    web = opt_in(profile, web_path, channel=Channel.WEB, actor="web form", consent_wording="I agree")
    assert web.outcome == Outcome.PENDING_CONFIRMATION
    profile.refresh_from_db()
    assert profile.is_globally_opted_out, "a web form alone never lifts a STOP"
    assert statuses(profile) == {"River alerts": "pending"}

    handle_inbound_text(organization, NUMBER, "yes")

    profile.refresh_from_db()
    assert not profile.is_globally_opted_out
    assert profile.status == ProfileStatus.ACTIVE
    assert statuses(profile) == {"River alerts": "active"}
    sub = Subscription.objects.get(profile=profile)
    assert (sub.activated_by.channel, sub.activated_by.actor) == (Channel.SMS, NUMBER)
    assert "reply YES" in sub.activated_by.consent_wording, "the YES answers the prompt shown"
    assert Message.objects.filter(profile=profile, kind=Message.Kind.WELCOME).count() == 1

    handle_inbound_text(organization, NUMBER, "Stop")

    profile.refresh_from_db()
    assert profile.is_globally_opted_out and profile.status == ProfileStatus.STOPPED
    assert statuses(profile) == {"River alerts": "opted_out"}
    assert events(profile)[-1] == ("opt_out", Channel.SMS, None)


def test_second_stop_after_a_web_form_cancels_the_pending_request_and_its_prompt(
    organization, profile, web_path
):
    opt_in(profile, web_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")
    with time_machine.travel(NIGHT, tick=False):
        opt_in(profile, web_path, channel=Channel.WEB, actor="web form")
    prompt = Message.objects.get(profile=profile, kind=Message.Kind.CONFIRMATION)

    # The person says no again before the prompt goes out in the morning.
    with time_machine.travel(MORNING_BEFORE_NINE, tick=False):
        handle_inbound_text(organization, NUMBER, "STOP")
    send_due_messages(now=NINE_THIRTY)

    prompt.refresh_from_db()
    assert prompt.status == Message.Status.CANCELLED, "no prompt to a number that just texted STOP again"
    assert statuses(profile) == {"River alerts": "opted_out"}
    assert handle_inbound_text(organization, NUMBER, "YES") == [NOTHING_TO_CONFIRM_REPLY.format(**ORG)]
    profile.refresh_from_db()
    assert profile.is_globally_opted_out


def test_yes_with_nothing_pending_changes_nothing(organization, profile, web_path):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_out(profile, web_path.campaign, channel=Channel.WEB)
    before = ConsentEvent.objects.count()

    assert handle_inbound_text(organization, NUMBER, " Yes! ") == [NOTHING_TO_CONFIRM_REPLY.format(**ORG)]
    assert handle_inbound_text(organization, "+12025550199", "YES") == [
        NOTHING_TO_CONFIRM_REPLY.format(**ORG)
    ]

    assert ConsentEvent.objects.count() == before
    assert statuses(profile) == {"River alerts": "opted_out"}
    assert not Profile.objects.filter(phone_number="+12025550199").exists()


def test_yes_after_a_stop_with_nothing_pending_keeps_the_stop(organization, profile, web_path):
    opt_in(profile, web_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")

    assert handle_inbound_text(organization, NUMBER, "YES") == [NOTHING_TO_CONFIRM_REPLY.format(**ORG)]

    profile.refresh_from_db()
    assert profile.is_globally_opted_out
    assert statuses(profile) == {"River alerts": "opted_out"}


def test_start_after_a_campaign_opt_out_resubscribes_nothing(organization, profile, web_path, other_path):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_out(profile, web_path.campaign, channel=Channel.API)

    assert handle_inbound_text(organization, NUMBER, "START") == [NOTHING_TO_START_REPLY.format(**ORG)]
    assert statuses(profile) == {"River alerts": "opted_out"}

    opt_in(profile, other_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")
    handle_inbound_text(organization, NUMBER, "unstop")

    assert statuses(profile) == {"River alerts": "opted_out", "Volunteer news": "active"}


def test_start_does_not_confirm_a_rejoin_request_made_after_a_campaign_opt_out(
    organization, profile, web_path
):
    opt_in(profile, web_path, channel=Channel.WEB)
    opt_out(profile, web_path.campaign, channel=Channel.SMS)
    # Someone posts the web form for the number: only a prompt, the person has not said yes.
    assert opt_in(profile, web_path, channel=Channel.WEB).outcome == Outcome.PENDING_CONFIRMATION
    handle_inbound_text(organization, NUMBER, "STOP")

    handle_inbound_text(organization, NUMBER, "START")

    assert statuses(profile) == {"River alerts": "opted_out"}, "START restores only what STOP stopped"


@pytest.mark.parametrize("body", ["  river  ", "river.", "RIVER!", "\triver\n"])
def test_keyword_in_any_case_with_spaces_and_punctuation_subscribes(organization, keyword_path, body):
    handle_inbound_text(organization, NUMBER, body)

    profile = Profile.objects.get(phone_number=NUMBER)
    assert statuses(profile) == {"River alerts": "active"}
    event = ConsentEvent.objects.get(profile=profile)
    assert (event.channel, event.actor, event.source_detail) == (Channel.SMS, NUMBER, "Texted keyword River")


def test_keyword_inside_a_sentence_subscribes_nobody(organization, keyword_path):
    handle_inbound_text(organization, NUMBER, "no river please")

    assert not Subscription.objects.exists()


def test_referral_of_a_subscribed_number_changes_nothing_and_sends_nothing(
    organization, profile, web_path, outbox
):
    opt_in(profile, web_path, channel=Channel.WEB)
    before = len(outbox(profile))

    result = opt_in(profile, web_path, channel=Channel.REFERRAL, actor="+12025550100")

    assert result.outcome == Outcome.ALREADY_ACTIVE and result.event is None
    assert statuses(profile) == {"River alerts": "active"}
    assert len(outbox(profile)) == before


def test_referral_of_a_number_waiting_for_yes_sends_no_second_prompt(profile, confirm_path, outbox):
    opt_in(profile, confirm_path, channel=Channel.WEB)

    result = opt_in(profile, confirm_path, channel=Channel.REFERRAL, actor="+12025550100")

    assert result.outcome == Outcome.ALREADY_PENDING
    assert len(outbox(profile, Message.Kind.CONFIRMATION)) == 1


def test_welcome_is_never_sent_twice_across_opt_outs_and_rejoins(organization, keyword_path, web_path):
    handle_inbound_text(organization, NUMBER, "river")
    profile = Profile.objects.get(phone_number=NUMBER)
    handle_inbound_text(organization, NUMBER, "STOP")
    handle_inbound_text(organization, NUMBER, "START")
    opt_out(profile, keyword_path.campaign, channel=Channel.API)
    handle_inbound_text(organization, NUMBER, "river")
    handle_inbound_text(organization, NUMBER, "STOP")
    opt_in(profile, web_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "yes")
    assert handle_inbound_text(organization, NUMBER, "river") == [
        ALREADY_SUBSCRIBED_REPLY.format(**ORG, campaign="River alerts")
    ]

    assert statuses(profile) == {"River alerts": "active"}
    assert Message.objects.filter(profile=profile, kind=Message.Kind.WELCOME).count() == 1


def test_night_welcome_is_not_sent_after_a_stop_before_nine(organization, profile, web_path):
    with time_machine.travel(NIGHT, tick=False):
        opt_in(profile, web_path, channel=Channel.WEB)
    welcome = Message.objects.get(profile=profile, kind=Message.Kind.WELCOME)
    assert welcome.not_before > NIGHT
    assert send_due_messages(now=NIGHT).claimed == 0, "nobody is texted at night"

    with time_machine.travel(MORNING_BEFORE_NINE, tick=False):
        handle_inbound_text(organization, NUMBER, "stop")
    summary = send_due_messages(now=NINE_THIRTY)

    welcome.refresh_from_db()
    assert welcome.status == Message.Status.CANCELLED
    assert (summary.sent, summary.cancelled) == (0, 1)
    assert sent_kinds(profile) == []


def test_night_welcome_is_not_sent_after_a_campaign_opt_out_before_nine(profile, web_path):
    with time_machine.travel(NIGHT, tick=False):
        opt_in(profile, web_path, channel=Channel.WEB)
    with time_machine.travel(MORNING_BEFORE_NINE, tick=False):
        opt_out(profile, web_path.campaign, channel=Channel.API)

    summary = send_due_messages(now=NINE_THIRTY)

    assert summary.cancelled == 1 and summary.sent == 0
    assert Message.objects.get(profile=profile).status == Message.Status.CANCELLED


def test_night_prompt_is_not_sent_after_a_stop_before_nine(organization, profile, confirm_path):
    with time_machine.travel(NIGHT, tick=False):
        opt_in(profile, confirm_path, channel=Channel.WEB)
    with time_machine.travel(MORNING_BEFORE_NINE, tick=False):
        handle_inbound_text(organization, NUMBER, "STOP")

    send_due_messages(now=NINE_THIRTY)

    prompt = Message.objects.get(profile=profile, kind=Message.Kind.CONFIRMATION)
    assert prompt.status == Message.Status.CANCELLED
    assert prompt.body == PROMPT


def test_a_gift_reported_by_the_snippet_and_the_nightly_file_is_stored_once(organization, profile):
    first, created = record_donation(
        organization,
        transaction_id=" 1234-5678 ",
        donor_email="Ann@Example.ORG",
        amount="25",
        billing_address={"street1": "1 Main St", "city": "Albany"},
        profile=profile,
        channel=Channel.DONATION_FORM,
    )
    again, created_again = record_donation(
        organization,
        transaction_id="1234-5678",
        donor_email="ann@example.org",
        amount="25.00",
        billing_address={"street1": "1 Main St"},
        channel=Channel.LUMINATE,
    )

    assert created and not created_again
    assert again.pk == first.pk
    assert organization.donations.count() == 1
    again.refresh_from_db()
    # Luminate's record replaces the form's report (anyone may post one); its street line agrees with
    # the form's, so the city the form typed, which Luminate does not carry, stays.
    assert (again.profile_id, again.channel, again.billing_street1, again.billing_city) == (
        profile.pk,
        Channel.LUMINATE,
        "1 Main St",
        "Albany",
    )


def test_stop_from_a_new_number_then_a_web_form_only_prompts(organization, web_path):
    handle_inbound_text(organization, NUMBER, "STOP")
    profile, created = get_or_create_profile(organization, NUMBER, channel=Channel.WEB)
    assert not created

    result = opt_in(profile, web_path, channel=Channel.WEB)

    assert result.outcome == Outcome.PENDING_CONFIRMATION
    assert [m.kind for m in result.messages] == [Message.Kind.CONFIRMATION]
    assert not Message.objects.filter(profile=profile, kind=Message.Kind.WELCOME).exists()


# --- through the public web form, the API and the donation snippet, over HTTP ------------------------


def test_web_form_for_a_stopped_number_prompts_then_yes_activates_with_both_provenances(
    client, organization, profile, web_path
):
    opt_in(profile, web_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")

    with time_machine.travel(NIGHT, tick=False):
        answer = client.post(
            "/profiles/join",
            {
                "opt_in_path[]": web_path.public_key,
                "person[phone]": "202-555-0143",
                "consent_wording": "Text me river alerts",
                "format": "json",
            },
        )

    assert answer.status_code == 200, answer.content
    assert statuses(profile) == {"River alerts": "pending"}
    prompt = Message.objects.get(profile=profile, kind=Message.Kind.CONFIRMATION)
    assert not prompt.is_reply and prompt.not_before > NIGHT, "a web form is not the person texting"
    request = ConsentEvent.objects.filter(profile=profile).latest("id")
    assert (request.kind, request.channel, request.consent_wording) == (
        "pending",
        Channel.WEB,
        "Text me river alerts",
    )

    handle_inbound_text(organization, NUMBER, "YES")

    profile.refresh_from_db()
    assert not profile.is_globally_opted_out and statuses(profile) == {"River alerts": "active"}
    activation = Subscription.objects.get(profile=profile).activated_by
    assert (activation.channel, activation.actor) == (Channel.SMS, NUMBER)


def test_api_profile_update_with_a_path_for_a_stopped_number_only_prompts(
    client, organization, profile, web_path
):
    from lumisync.mcapi.models import ApiKey

    opt_in(profile, web_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")
    token = ApiKey.issue(organization, "crm")[1]

    answer = client.post(
        "/api/profile_update",
        {"phone_number": NUMBER, "opt_in_path_id": str(web_path.pk), "first_name": "Ann"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert answer.status_code == 200 and b'success="true"' in answer.content, answer.content
    profile.refresh_from_db()
    assert profile.first_name == "Ann"
    assert profile.is_globally_opted_out and profile.status == ProfileStatus.STOPPED
    assert statuses(profile) == {"River alerts": "pending"}
    assert Message.objects.filter(profile=profile, kind=Message.Kind.WELCOME).count() == 1, "the first only"
    assert Message.objects.filter(profile=profile, kind=Message.Kind.CONFIRMATION).count() == 1


def test_api_opt_out_of_everything_then_profile_update_only_prompts(client, organization, profile, web_path):
    """The API's "all campaigns" opt-out is not a STOP, but each campaign opted out of is re-joined only
    on the person's YES."""
    from lumisync.mcapi.models import ApiKey

    opt_in(profile, web_path, channel=Channel.WEB)
    token = ApiKey.issue(organization, "crm")[1]
    headers = {"Authorization": f"Bearer {token}"}
    client.post("/api/profile_opt_out", {"phone_number": NUMBER}, headers=headers)
    assert statuses(profile) == {"River alerts": "opted_out"}

    client.post(
        "/api/profile_update", {"phone_number": NUMBER, "opt_in_path_id": str(web_path.pk)}, headers=headers
    )

    assert statuses(profile) == {"River alerts": "pending"}, "an opt-out of the campaign is only re-asked"


def test_gift_reported_by_the_snippet_then_by_the_nightly_file_is_stored_once(
    client, organization, profile, web_path
):
    from lumisync.mcapi.models import DonationFormSnippet

    snippet = DonationFormSnippet.objects.create(organization=organization, opt_in_path=web_path)
    answer = client.post(
        "/profiles/donation",
        {
            "snippet_key": snippet.key,
            "transaction_id": "4411-2001",
            "amount": "50",
            "phone": "202-555-0143",
            "billing[city]": "Albany",
        },
    )
    assert answer.status_code == 200 and organization.donations.count() == 1

    _gift, created = record_donation(
        organization, transaction_id="4411-2001", amount="50.00", channel=Channel.LUMINATE
    )
    again = client.post(
        "/profiles/donation", {"snippet_key": snippet.key, "transaction_id": "4411-2001", "amount": "50"}
    )

    assert not created and again.status_code == 200
    stored = organization.donations.get()
    assert (stored.profile_id, stored.channel) == (profile.pk, Channel.LUMINATE), "the report changed nothing"


def test_start_restores_a_subscription_that_a_web_form_made_pending_after_the_stop(
    organization, profile, web_path
):
    opt_in(profile, web_path, channel=Channel.WEB)
    handle_inbound_text(organization, NUMBER, "STOP")
    with time_machine.travel(NIGHT, tick=False):
        assert opt_in(profile, web_path, channel=Channel.WEB).outcome == Outcome.PENDING_CONFIRMATION
    prompt = Message.objects.get(profile=profile, kind=Message.Kind.CONFIRMATION)

    with time_machine.travel(MORNING_BEFORE_NINE, tick=False):
        assert handle_inbound_text(organization, NUMBER, "START") == [RESTARTED_REPLY.format(**ORG)]
    send_due_messages(now=NINE_THIRTY)

    assert statuses(profile) == {"River alerts": "active"}
    profile.refresh_from_db()
    assert not profile.is_globally_opted_out and profile.status == ProfileStatus.ACTIVE
    activation = Subscription.objects.get(profile=profile).activated_by
    assert (activation.kind, activation.channel, activation.actor) == ("opt_in", Channel.SMS, NUMBER)
    assert activation.source_detail == (
        "Texted START; also answers the Web form request of 2026-06-11 06:00 UTC waiting for a YES"
    )
    assert events(profile)[-2:] == [("opt_in", Channel.SMS, None), ("opt_in", Channel.SMS, "River alerts")]
    prompt.refresh_from_db()
    assert prompt.status == Message.Status.CANCELLED, "no YES asked of a number already subscribed again"
    assert Message.objects.filter(profile=profile, kind=Message.Kind.WELCOME).count() == 1
    assert handle_inbound_text(organization, NUMBER, "YES") == [NOTHING_TO_CONFIRM_REPLY.format(**ORG)]


def test_a_sync_subscription_then_stop_start_and_keyword_sends_one_welcome(
    organization, keyword_path, web_path
):
    profile, _ = get_or_create_profile(organization, NUMBER, channel=Channel.LUMINATE)
    [result] = opt_in_new_profiles([(profile, web_path)], channel=Channel.LUMINATE, source_detail="run 1")
    assert result.outcome == Outcome.ACTIVATED

    handle_inbound_text(organization, NUMBER, "STOP")
    [refused] = opt_in_new_profiles([(profile, web_path)], channel=Channel.LUMINATE, source_detail="run 2")
    handle_inbound_text(organization, NUMBER, "START")
    handle_inbound_text(organization, NUMBER, "river")

    assert refused.outcome == Outcome.REFUSED_OPTED_OUT
    assert statuses(profile) == {"River alerts": "active"}
    assert Message.objects.filter(profile=profile, kind=Message.Kind.WELCOME).count() == 1
