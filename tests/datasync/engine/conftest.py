"""An organization with campaigns and an integration configured against a running simulator."""

from __future__ import annotations

import pytest

from lumisync.datasync import services
from lumisync.datasync.models import Integration
from lumisync.luminate import RetryPolicy
from lumisync.simulator import SimulatorConfig, running_simulator
from lumisync.subscribers.models import Campaign, OptInPath

STOP_HELP = " Reply HELP for help, STOP to opt out."


@pytest.fixture(autouse=True)
def _quick_client(settings):
    # Faults in these tests are injected on purpose: give up on them in milliseconds, not minutes.
    settings.LUMISYNC_LUMINATE_CLIENT = {
        "connect_timeout": 1.0,
        "read_timeout": 1.0,
        "retry": RetryPolicy(max_attempts=3, base=0.01, cap=0.05),
    }


@pytest.fixture
def simulator():
    with running_simulator(SimulatorConfig(constituents=0, ftp=True)) as sim:
        yield sim


@pytest.fixture
def paths(organization):
    campaign = Campaign.objects.create(organization=organization, name="Rapid Response")
    donors = Campaign.objects.create(organization=organization, name="Donor Updates")
    return {
        "default": OptInPath.objects.create(
            organization=organization,
            campaign=campaign,
            name="Luminate sync",
            welcome_message="Welcome!" + STOP_HELP,
        ),
        "donors": OptInPath.objects.create(
            organization=organization,
            campaign=donors,
            name="Donors",
            welcome_message="Thanks, donor!" + STOP_HELP,
        ),
        "confirm": OptInPath.objects.create(
            organization=organization,
            campaign=donors,
            name="Confirm first",
            confirmation_prompt="Reply YES to join." + STOP_HELP,
            welcome_message="Joined." + STOP_HELP,
        ),
    }


@pytest.fixture
def make_integration(organization, paths, simulator, settings):
    settings.LUMISYNC_ALLOW_PRIVATE_HOSTS = True
    settings.LUMISYNC_ALLOW_INSECURE_HTTP = True

    def make(sync_type: str = "conservative", **overrides) -> Integration:
        integration = services.create_integration(organization, services.Actor("test"))
        defaults = {
            "default_opt_in_path": paths["default"],
            "sync_type": sync_type,
            "api_requests_per_second": 1000.0,
            "active": True,
        }
        values = services.simulator_settings(simulator, **{**defaults, **overrides})
        Integration.objects.filter(pk=integration.pk).update(
            **{k: v for k, v in values.items() if "password" not in k and k != "api_key"}
        )
        integration.refresh_from_db()
        integration.login_password = values["login_password"]
        integration.api_key = values["api_key"]
        integration.datasync_password = values["datasync_password"]
        integration.save(update_fields=["login_password", "api_key", "datasync_password"])
        return Integration.objects.get(pk=integration.pk)

    return make
