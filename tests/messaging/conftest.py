"""Fixtures for the outbox tests: profiles, subscriptions and a Twilio-compatible provider on loopback."""

from __future__ import annotations

import pytest

from support.sms_fake_provider import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, running


@pytest.fixture
def make_profile(organization):
    from lumisync.subscribers.models import Channel, Profile

    def make(phone_number: str = "+12125550143", **fields) -> Profile:
        fields.setdefault("organization", organization)
        return Profile.objects.create(phone_number=phone_number, source=Channel.WEB, **fields)

    return make


@pytest.fixture
def profile(make_profile):
    return make_profile()


@pytest.fixture
def make_subscription(organization):
    from lumisync.subscribers.models import Campaign, Subscription

    def make(profile, status: str = Subscription.Status.ACTIVE) -> Subscription:
        campaign, _ = Campaign.objects.get_or_create(organization=profile.organization, name="River alerts")
        return Subscription.objects.create(profile=profile, campaign=campaign, status=status)

    return make


@pytest.fixture
def fake_provider():
    with running(ACCOUNT_SID, AUTH_TOKEN) as provider:
        yield provider


@pytest.fixture
def provider_account(organization, fake_provider):
    from lumisync.messaging.models import ProviderAccount

    return ProviderAccount.objects.create(
        organization=organization,
        base_url=fake_provider.base_url,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=FROM_NUMBER,
    )


@pytest.fixture
def twilio(settings, provider_account):
    settings.LUMISYNC_SMS_BACKEND = "twilio"
    settings.LUMISYNC_ALLOW_PRIVATE_HOSTS = True
    return provider_account
