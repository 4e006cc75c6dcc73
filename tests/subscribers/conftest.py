"""Campaigns, opt-in paths and profiles for the subscriber tests."""

from __future__ import annotations

import pytest

from lumisync.subscribers.models import Campaign, Channel, OptInPath
from lumisync.subscribers.services import get_or_create_profile

WELCOME = "Save the Rivers: welcome! Msg & data rates may apply. Reply HELP for help, STOP to end."
PROMPT = "Save the Rivers: reply YES to get river alerts. Reply HELP for help, STOP to end."


@pytest.fixture
def campaign(organization):
    return Campaign.objects.create(organization=organization, name="River alerts")


@pytest.fixture
def other_campaign(organization):
    return Campaign.objects.create(organization=organization, name="Volunteer news")


@pytest.fixture
def web_path(campaign):
    return OptInPath.objects.create(
        organization=campaign.organization, campaign=campaign, name="Website form", welcome_message=WELCOME
    )


@pytest.fixture
def other_path(other_campaign):
    return OptInPath.objects.create(
        organization=other_campaign.organization,
        campaign=other_campaign,
        name="Volunteer form",
        welcome_message="Volunteer news: welcome. Reply HELP for help, STOP to end.",
    )


@pytest.fixture
def keyword_path(campaign):
    return OptInPath.objects.create(
        organization=campaign.organization,
        campaign=campaign,
        name="RIVER keyword",
        kind=OptInPath.Kind.KEYWORD,
        keyword="River",
        welcome_message=WELCOME,
    )


@pytest.fixture
def confirm_path(other_campaign):
    return OptInPath.objects.create(
        organization=other_campaign.organization,
        campaign=other_campaign,
        name="Double opt-in",
        welcome_message="Volunteer news: you're in. Reply HELP for help, STOP to end.",
        confirmation_prompt=PROMPT,
    )


@pytest.fixture
def profile(organization):
    profile, _ = get_or_create_profile(organization, "(202) 555-0143", channel=Channel.WEB)
    return profile


@pytest.fixture
def outbox():
    """The messages queued for a profile, oldest first, optionally of one kind."""
    from lumisync.messaging.models import Message

    def messages(profile, kind=None):
        found = Message.objects.filter(profile=profile).order_by("id")
        return list(found.filter(kind=kind) if kind else found)

    return messages
