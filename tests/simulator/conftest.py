"""A simulated site shared by the tests of one module, reset between tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import httpx
import pytest

from lumisync.simulator import SimulatorConfig, running_simulator

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim():
    config = SimulatorConfig(
        seed=7, constituents=300, ftp=True, ftps=True, clock_start=START, clock_frozen=True
    )
    with running_simulator(config) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _reset(request):
    if "sim" not in request.fixturenames:
        yield
        return
    simulator = request.getfixturevalue("sim")
    yield
    simulator.faults.clear()
    simulator.ftp_faults.clear()
    simulator.quirks.set_all(True)
    simulator.set_allowed_cidrs(simulator.config.allowed_cidrs)
    simulator.set_duplicate_emails("reject")
    simulator.set_latency(0)
    simulator.clock.set(START)


@pytest.fixture(scope="module")
def http():
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def api(sim, http):
    """POST (or GET) one API call; returns the httpx response. JSON unless fmt is given."""

    def call(
        method: str | None,
        servlet: str = "SRConsAPI",
        *,
        verb: str = "POST",
        fmt: str | None = "json",
        creds: bool = True,
        **params,
    ) -> httpx.Response:
        data = {"v": "1.0"}
        if creds:
            data.update(api_key=sim.api_key, login_name=sim.login_name, login_password=sim.login_password)
        if method is not None:
            data["method"] = method
        if fmt:
            data["response_format"] = fmt
        data.update({k: v for k, v in params.items() if v is not None})
        if verb == "GET":
            return http.get(sim.url(servlet), params=data)
        return http.request(verb, sim.url(servlet), data=data)

    return call


_EMAILS = itertools.count(1)


@pytest.fixture
def email_factory():
    """Emails never used before in this test run, so module-shared sites never see a repeat."""

    def make(prefix: str = "person") -> str:
        return f"{prefix}{next(_EMAILS)}@example.org"

    return make
