"""Fixtures for the API and the public web endpoints: campaigns, opt-in paths, keys and an XML caller."""

from __future__ import annotations

import pytest
from mcapi_testing import XmlApi

from lumisync.mcapi.models import ApiKey
from lumisync.subscribers.models import Campaign, OptInPath

WELCOME = "Welcome to River Alerts! Reply HELP for help, STOP to end."


@pytest.fixture
def campaign(organization):
    return Campaign.objects.create(organization=organization, name="River Alerts", description="Flood news")


@pytest.fixture
def path(organization, campaign):
    return OptInPath.objects.create(
        organization=organization, campaign=campaign, name="Website", welcome_message=WELCOME
    )


@pytest.fixture
def token(organization):
    return ApiKey.issue(organization, "tests")[1]


@pytest.fixture
def other_token(other_organization):
    return ApiKey.issue(other_organization, "tests")[1]


@pytest.fixture
def api(client, token):
    return XmlApi(client, token)


@pytest.fixture
def other_api(client, other_token):
    return XmlApi(client, other_token)
