"""One simulated Luminate site for the client's contract tests, reset between tests."""

from __future__ import annotations

import dataclasses

import pytest

from lumisync.luminate import Credentials, RetryPolicy, SiteConfig
from lumisync.simulator import SimulatorConfig, running_simulator


@pytest.fixture(scope="session")
def _luminate_simulator():
    config = SimulatorConfig(
        seed=1,
        constituents=200,
        org="simorg",
        api_key="sim-api-key",
        login_name="apiuser",
        login_password="sim-password",
        opt_in_field="custom_boolean50",
        allowed_cidrs=("127.0.0.0/8",),
    )
    with running_simulator(config) as sim:
        yield sim


@pytest.fixture
def sim(_luminate_simulator):
    sim = _luminate_simulator
    sim.faults.clear()
    sim.quirks.set_all(True)
    sim.set_allowed_cidrs(("127.0.0.0/8",))
    yield sim
    sim.faults.clear()
    sim.quirks.set_all(True)
    sim.set_allowed_cidrs(("127.0.0.0/8",))


def site_for(sim, **changes) -> SiteConfig:
    """The simulator as a site: plain HTTP on loopback, short timeouts and quick retries for tests."""
    base = SiteConfig(
        host=sim.host,
        org=sim.org,
        credentials=Credentials(
            api_key=sim.api_key, login_name=sim.login_name, login_password=sim.login_password
        ),
        allow_http=True,
        allow_private=True,
        connect_timeout=2.0,
        read_timeout=1.0,
        rate=None,
        retry=RetryPolicy(max_attempts=4, base=0.01, cap=0.05),
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
def make_site(sim):
    return lambda **changes: site_for(sim, **changes)


@pytest.fixture
def site(sim) -> SiteConfig:
    return site_for(sim)
