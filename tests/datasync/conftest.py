"""Fixtures of the Data Sync set-up tests: an integration, the simulator, and the integration pointed at it."""

from __future__ import annotations

import pytest
from datasync_testing import SECRET_VALUES, simulator_settings

from lumisync.datasync import services
from lumisync.simulator import SimulatorConfig, running_simulator
from lumisync.subscribers.models import Campaign, OptInPath


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    # The simulator listens on 127.0.0.1 over plain http: an operator would allow this only for a test site.
    settings.LUMISYNC_ALLOW_PRIVATE_HOSTS = True
    settings.LUMISYNC_ALLOW_INSECURE_HTTP = True
    settings.LUMISYNC_API_IP_ADDRESSES = ["203.0.113.7", "203.0.113.8"]


@pytest.fixture
def actor(admin_user):
    return services.Actor.of(admin_user)


@pytest.fixture
def integration(organization, actor):
    return services.create_integration(organization, actor)


@pytest.fixture
def web_path(organization):
    campaign = Campaign.objects.create(organization=organization, name="River Alerts")
    return OptInPath.objects.create(organization=organization, campaign=campaign, name="Luminate sign-ups")


@pytest.fixture
def sim():
    config = SimulatorConfig(
        constituents=30,
        ftp=True,
        ftps=True,
        api_key=SECRET_VALUES["api_key"],
        login_password=SECRET_VALUES["login_password"],
        ftp_password=SECRET_VALUES["datasync_password"],
    )
    with running_simulator(config) as simulator:
        yield simulator


@pytest.fixture
def configured(integration, sim, actor):
    """The integration set up against the simulator, with a changed file waiting on its FTP site."""
    services.apply_settings(integration, simulator_settings(sim), actor)
    sim.write_changed_file(mode="liberal")
    integration.refresh_from_db()
    return integration
