"""Error classes over real HTTP: run-level stops at once, transient is retried, record-level is raised."""

from __future__ import annotations

import dataclasses

import pytest

from lumisync.luminate import (
    Credentials,
    LuminateClient,
    MultipleMatches,
    NotFound,
    RetryPolicy,
    RunLevelError,
    TransientError,
    ValidationFailed,
)


def calls(sim, method="getUser"):
    return sum(1 for entry in sim.request_log if entry["method"] == method)


def get_first(sim, site):
    with LuminateClient(site) as client:
        return client.get_user(cons_id=sim.state.seeded_ids(1)[0])


@pytest.mark.parametrize("suppress", [False, True], ids=["403", "suppressed-200"])
@pytest.mark.parametrize(
    ("code", "setting"),
    [
        (2, "check the integration's API key"),
        (3, "check the integration's API login name and password"),
        (4, "add it to the site's 'Luminate Online API IP White List'"),
        (14, "give the login's security group the permission it needs"),
    ],
)
def test_run_level_codes_raise_at_once_naming_the_setting(sim, make_site, code, setting, suppress):
    sim.faults.inject("getUser", "error", count=1, code=code)
    before = calls(sim)
    with pytest.raises(RunLevelError) as caught:
        get_first(sim, make_site(suppress_response_codes=suppress))
    assert calls(sim) - before == 1
    assert caught.value.code == code
    assert caught.value.http_status == (200 if suppress else 403)
    assert setting in str(caught.value)


def test_wrong_api_key_password_and_ip_are_run_level(sim, make_site):
    creds = make_site().credentials
    with pytest.raises(RunLevelError, match="API key") as caught:
        get_first(sim, make_site(credentials=dataclasses.replace(creds, api_key="wrong-key")))
    assert caught.value.code == 2
    with pytest.raises(RunLevelError, match="login name and password") as caught:
        get_first(sim, make_site(credentials=Credentials(creds.api_key, creds.login_name, "wrong-password")))
    assert caught.value.code == 3
    sim.set_allowed_cidrs(("10.0.0.0/8",))
    with pytest.raises(RunLevelError, match="IP White List") as caught:
        get_first(sim, make_site())
    assert caught.value.code == 4


def test_wrong_organization_short_name_is_run_level(sim, make_site):
    with pytest.raises(RunLevelError, match="organization short name") as caught:
        get_first(sim, make_site(org="notmyorg"))
    assert caught.value.http_status == 404


def test_http_405_is_run_level(sim, make_site):
    sim.faults.inject("getUser", "http", count=1, status=405, body="html")
    before = calls(sim)
    with pytest.raises(RunLevelError, match="405"):
        get_first(sim, make_site())
    assert calls(sim) - before == 1


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("error", {"code": 1}),
        ("http", {"status": 503, "body": "html"}),
        ("http", {"status": 502, "body": "empty"}),
        ("hang", {}),
        ("reset", {}),
        ("malformed", {"variant": "truncated_json"}),
        ("malformed", {"variant": "html_200"}),
        ("malformed", {"variant": "broken_xml"}),
    ],
)
def test_transient_failures_are_retried_then_succeed(sim, make_site, kind, params):
    sim.faults.inject("getUser", kind, count=2, **params)
    before = calls(sim)
    record = get_first(sim, make_site(read_timeout=0.3))
    assert record["cons_id"] == sim.state.seeded_ids(1)[0]
    assert calls(sim) - before == 3


def test_transient_failures_outlasting_the_attempts_are_raised(sim, make_site):
    sim.faults.inject("getUser", "error", count=10, code=1)
    before = calls(sim)
    with pytest.raises(TransientError) as caught:
        get_first(sim, make_site(retry=RetryPolicy(max_attempts=3, base=0.01, cap=0.02)))
    assert calls(sim) - before == 3
    assert caught.value.code == 1
    assert caught.value.method == "getUser"
    assert "gave up after 3 attempt(s)" in caught.value.__notes__


def test_wrong_content_type_with_a_json_body_is_read(sim, make_site):
    sim.faults.inject("getUser", "malformed", count=1, variant="wrong_content_type")
    before = calls(sim)
    assert get_first(sim, make_site())["cons_id"] == sim.state.seeded_ids(1)[0]
    assert calls(sim) - before == 1


def test_connection_refused_is_transient(sim, make_site):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    site = make_site(host=f"127.0.0.1:{port}", retry=RetryPolicy(max_attempts=2, base=0.01, cap=0.01))
    with pytest.raises(TransientError, match="connection"):
        get_first(sim, site)


def test_method_not_allowed_on_a_write_stops_at_once(sim, make_site):
    sim.faults.inject("update", "error", count=1, code=14)
    before = calls(sim, "update")
    with LuminateClient(make_site()) as client, pytest.raises(RunLevelError, match="code 14") as caught:
        client.update(
            {"name.first": "x"},
            cons_id=sim.state.seeded_ids(1)[0],
            interaction_subject="s",
            interaction_body="",
        )
    assert calls(sim, "update") - before == 1
    assert caught.value.method == "update"


def test_a_value_luminate_rejects_is_a_validation_failure_of_the_record(sim, make_site):
    cons_id = sim.state.seeded_ids(1)[0]
    before = calls(sim, "update")
    with LuminateClient(make_site()) as client, pytest.raises(ValidationFailed) as caught:
        client.update(
            {"custom_boolean50": "maybe"}, cons_id=cons_id, interaction_subject="s", interaction_body=""
        )
    assert calls(sim, "update") - before == 1, "a record-level error is not retried"
    assert (caught.value.code, caught.value.http_status) == (22, 403)
    assert f"cons_id={cons_id}" in str(caught.value) and "custom_boolean50" in caught.value.luminate_message


@pytest.mark.parametrize("suppress", [False, True])
def test_record_level_errors_with_and_without_suppressed_codes(sim, make_site, suppress):
    with LuminateClient(make_site(suppress_response_codes=suppress)) as client:
        with pytest.raises(NotFound) as caught:
            client.get_user(cons_id="99999997")
        assert caught.value.http_status == (200 if suppress else 403)
        sim.faults.inject("getUser", "error", count=1, code=8)
        with pytest.raises(MultipleMatches):
            client.get_user(primary_email="anyone@example.org")
        assert client.get_user(cons_id=sim.state.seeded_ids(1)[0])["cons_id"] == sim.state.seeded_ids(1)[0]
