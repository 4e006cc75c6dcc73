"""Injected faults, each kind, scripted or probabilistic, global or per method; the request log."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from lumisync.simulator.api import Request
from lumisync.simulator.faults import Faults

from .wire import body, error_code

CONS = "1000101"


def get_user_form(sim, **extra: str) -> dict[str, str]:
    """The form of a getUser call for ``CONS``, posted raw (without the test client's helpers)."""
    return {
        "method": "getUser",
        "api_key": sim.api_key,
        "login_name": sim.login_name,
        "login_password": sim.login_password,
        "v": "1.0",
        "cons_id": CONS,
        **extra,
    }


@pytest.mark.parametrize("code", [1, 2, 3, 4, 8, 9, 10, 11, 13, 15, 16])
def test_error_codes_for_the_next_call_only(sim, api, code):
    sim.faults.inject("getUser", "error", count=1, code=code)
    response = api("getUser", cons_id=CONS)
    assert response.status_code == 403 and error_code(response) == str(code)
    assert api("getUser", cons_id=CONS).status_code == 200


def test_error_message_can_be_set_and_suppress_codes_still_apply(sim, api):
    sim.faults.inject(None, "error", count=1, code=1, message="Boom")
    response = api("getUser", cons_id=CONS, suppress_response_codes="true")
    assert response.status_code == 200
    assert body(response, "errorResponse") == {"code": "1", "message": "Boom"}


def test_per_method_fault_leaves_other_methods_alone(sim, api):
    sim.faults.inject("update", "error", code=1)
    assert api("getUser", cons_id=CONS).status_code == 200
    assert error_code(api("update", cons_id=CONS)) == "1"
    assert error_code(api("update", cons_id=CONS)) == "1"
    sim.faults.clear()
    assert api("update", cons_id=CONS).status_code == 200


def test_scripted_count(sim, api):
    sim.faults.inject(None, "error", count=2, code=1)
    statuses = [api("getUser", cons_id=CONS).status_code for _ in range(4)]
    assert statuses == [403, 403, 200, 200]


def test_probabilistic_faults_over_the_wire(sim, api):
    sim.faults.inject("getUser", "error", probability=0.0, code=1)
    assert api("getUser", cons_id=CONS).status_code == 200
    sim.faults.clear()
    sim.faults.inject("getUser", "error", probability=1.0, code=1)
    assert api("getUser", cons_id=CONS).status_code == 403
    sim.faults.clear()
    sim.faults.inject("getUser", "error", probability=0.5, code=1)
    statuses = {api("getUser", cons_id=CONS).status_code for _ in range(40)}
    assert statuses == {200, 403}


def test_probabilistic_faults_and_jitter_repeat_with_the_seed():
    def draws(seed: int) -> list[tuple[float, str | None]]:
        faults = Faults(seed)
        faults.inject("getUser", "error", probability=0.5, code=1)
        faults.inject("getUser", "latency", probability=0.5, ms=10, jitter_ms=50)
        picks = [faults.pick("getUser") for _ in range(40)]
        return [(delay, rule and rule.kind) for delay, rule in picks]

    first = draws(11)
    assert first == draws(11)
    assert first != draws(12)
    assert {kind for _, kind in first} == {None, "error"}
    assert len({delay for delay, _ in first if delay}) > 5, "jitter should vary the delay"


@pytest.mark.parametrize(("status", "kind"), [(503, "html"), (500, "empty")])
def test_http_5xx(sim, api, status, kind):
    sim.faults.inject("getUser", "http", count=1, status=status, body=kind)
    response = api("getUser", cons_id=CONS)
    assert response.status_code == status
    assert ("<html>" in response.text) == (kind == "html")
    assert (response.content == b"") == (kind == "empty")


def test_hang_until_the_client_times_out(sim, http):
    sim.faults.inject("getUser", "hang", count=1)
    form = get_user_form(sim)
    with pytest.raises(httpx.ReadTimeout):
        http.post(sim.url(), data=form, timeout=0.3)
    assert http.post(sim.url(), data=form).status_code == 200


def test_reset_drops_the_connection(sim):
    sim.faults.inject("getUser", "reset", count=1)
    form = urlencode(get_user_form(sim)).encode()
    request = (
        f"POST /{sim.org}/site/SRConsAPI HTTP/1.1\r\nHost: {sim.host}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(form)}\r\n\r\n"
    ).encode() + form
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as sock:
        sock.sendall(request)
        with pytest.raises(ConnectionResetError):
            while sock.recv(4096):
                pass


def test_malformed_truncated_json(sim, api):
    sim.faults.inject("getUser", "malformed", count=1, variant="truncated_json")
    response = api("getUser", fmt="xml", cons_id=CONS)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_malformed_html_with_200(sim, api):
    sim.faults.inject("getUser", "malformed", count=1, variant="html_200")
    response = api("getUser", cons_id=CONS)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<html>")


def test_malformed_wrong_content_type(sim, api):
    sim.faults.inject("getUser", "malformed", count=1, variant="wrong_content_type")
    response = api("getUser", cons_id=CONS)
    assert response.headers["content-type"].startswith("text/html")
    assert body(response, "getConsResponse")["cons_id"] == CONS


def test_malformed_broken_xml(sim, api):
    sim.faults.inject("getUser", "malformed", count=1, variant="broken_xml")
    response = api("getUser", fmt="json", cons_id=CONS)
    assert response.headers["content-type"].startswith("text/xml")
    with pytest.raises(ET.ParseError):
        ET.fromstring(response.content)


def test_latency_does_not_block_other_requests(sim, api):
    sim.faults.inject("getUser", "latency", ms=30_000)
    order: list[str] = []

    def slow() -> None:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(sim.url(), data={"method": "getUser", "v": "1.0", "cons_id": CONS}, timeout=1)
        order.append("slow")

    thread = threading.Thread(target=slow)
    thread.start()
    assert api("listUserFields").status_code == 200
    order.append("fast")
    thread.join()
    assert order == ["fast", "slow"]


def test_latency_with_jitter_delays_the_answer(sim, api):
    sim.faults.inject(None, "latency", count=1, ms=100, jitter_ms=50)
    started = time.perf_counter()
    assert api("getUser", cons_id=CONS).status_code == 200
    assert time.perf_counter() - started >= 0.1
    started = time.perf_counter()
    assert api("getUser", cons_id=CONS).status_code == 200
    assert time.perf_counter() - started < 0.1, "the latency was injected for one call only"


def test_latency_counts_from_the_requests_arrival(sim):
    # A request that waited on the serving loop (here: 1.9 s, by its arrival stamp) is answered when its
    # latency has run from its arrival, not a whole latency later; one that just arrived waits it all.
    sim.set_latency(2000)
    form = urlencode(get_user_form(sim, response_format="json")).encode()

    async def answer_after(waited: float) -> float:
        loop = asyncio.get_running_loop()
        request = Request(
            http_method="POST",
            path=urlsplit(sim.url()).path,
            query="",
            body=form,
            content_type="application/x-www-form-urlencoded",
            client_ip="127.0.0.1",
            received_at=loop.time() - waited,
        )
        started = loop.time()
        reply = await sim._handle(request)
        assert reply.status == 200
        return loop.time() - started

    assert 0.05 <= asyncio.run(answer_after(1.9)) < 1.0
    assert asyncio.run(answer_after(0.0)) >= 2.0


def test_latency_and_jitter_bounds_of_a_pick():
    faults = Faults(5)
    faults.inject(None, "latency", ms=20, jitter_ms=30)
    delays = [faults.pick("getUser")[0] for _ in range(200)]
    assert all(0.020 <= delay <= 0.050 for delay in delays)
    assert max(delays) - min(delays) > 0.02, "jitter should spread the delays over most of 30 ms"


def test_many_requests_in_flight_under_latency(sim):
    # The floor: at least 64 requests in flight at once while latency is injected.
    sim.set_latency(300)
    sim.in_flight_max = 0
    form = get_user_form(sim, response_format="json")

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:
            replies = await asyncio.gather(*(client.post(sim.url(), data=form) for _ in range(64)))
        return [reply.status_code for reply in replies]

    started = time.perf_counter()
    statuses = asyncio.run(burst())
    elapsed = time.perf_counter() - started
    assert statuses == [200] * 64
    assert sim.in_flight_max >= 64
    assert elapsed < 2.0, f"64 requests of 300 ms each took {elapsed:.2f} s: they were not concurrent"


def test_bad_fault_specs_are_rejected_with_the_value(sim):
    with pytest.raises(ValueError, match="explode"):
        sim.faults.inject(None, "explode")
    with pytest.raises(ValueError, match="code"):
        sim.faults.inject(None, "error")
    with pytest.raises(ValueError, match="xml_soup"):
        sim.faults.inject(None, "malformed", variant="xml_soup")


def test_request_log_redacts_secrets(sim, api):
    sim.clear_request_log()
    api("getUser", cons_id=CONS)
    sim.faults.inject("getUser", "error", count=1, code=1)
    api("getUser", cons_id=CONS)
    first, second = sim.request_log
    assert (first["method"], first["servlet"], first["status"]) == ("getUser", "SRConsAPI", 200)
    assert first["params"]["login_password"] == "***" and first["params"]["api_key"] == "***"
    assert (second["status"], second["fault"]) == (403, "error")
    assert sim.login_password not in str(sim.request_log) and sim.api_key not in str(sim.request_log)
