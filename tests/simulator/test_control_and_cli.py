"""The /_sim/ control endpoint and `python -m lumisync.simulator`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from lumisync.simulator.config import QUIRK_NAMES

from .wire import body, error_code


@pytest.fixture
def control(sim, http):
    def call(verb: str, path: str, payload: dict | None = None, token: str | None = None) -> httpx.Response:
        headers = {"X-Sim-Token": sim.control_token if token is None else token}
        return http.request(verb, f"{sim.base_url}/_sim/{path}", json=payload, headers=headers)

    return call


def test_token_is_required(control):
    assert control("GET", "status", token="wrong").status_code == 403
    assert control("GET", "status").json()["org"] == "simorg"


def test_staff_edits_through_the_control_endpoint(sim, control, api):
    cons_id = control("POST", "constituents", {"fields": {"primary_email": "staff@example.org"}}).json()[
        "cons_id"
    ]
    control(
        "POST",
        f"constituents/{cons_id}",
        {"fields": {"mobile_phone": "2125550111", "custom_boolean50": True}},
    )
    user = body(api("getUser", cons_id=cons_id), "getConsResponse")
    assert user["mobile_phone"] == "2125550111"
    assert control("GET", "find?email=STAFF@example.org").json() == {"cons_ids": [cons_id]}
    bad = control("POST", f"constituents/{cons_id}", {"fields": {"custom_boolean50": "perhaps"}})
    assert bad.status_code == 400 and "custom_boolean50" in bad.json()["error"]
    assert control("DELETE", f"constituents/{cons_id}").status_code == 200
    assert control("GET", f"constituents/{cons_id}").status_code == 404


def test_clock_faults_quirks_settings_log_and_files(sim, control, api):
    before = sim.clock.now()
    control("POST", "clock", {"advance": 86400})
    assert (sim.clock.now() - before).days == 1
    control("POST", "faults", {"method": "getUser", "kind": "error", "code": 16, "count": 1})
    assert error_code(api("getUser", cons_id="1000101")) == "16"
    assert control("POST", "faults", {"kind": "nope"}).status_code == 400
    quirks = control("POST", "quirks", {"all": False})
    assert quirks.status_code == 200 and quirks.json() == dict.fromkeys(QUIRK_NAMES, False), quirks.text
    assert body(api("getUser", cons_id="1000101"), "getConsResponse")["cons_id"] == 1000101
    control("POST", "settings", {"allowed_cidrs": ["10.0.0.0/8"]})
    assert body(api("getUser", cons_id="1000101"), "errorResponse")["code"] == 4
    log = control("GET", "requests?limit=2").json()
    assert [e["method"] for e in log] == ["getUser", "getUser"] and sim.login_password not in json.dumps(log)
    written = control("POST", "files", {"mode": "full", "header_style": "label"}).json()["filename"]
    assert os.path.exists(os.path.join(sim.ftp_root, written))
    control("POST", "ftp_faults", {"kind": "login"})
    assert sim.ftp_faults.pending() == {"login": 1}


def test_files_endpoint_takes_the_org_token_and_names_an_unknown_one(sim, control):
    written = control("POST", "files", {"name_pattern": "{org}_changed_{YYYYMMDD}.csv"})
    assert written.status_code == 200 and written.json()["filename"].startswith(f"{sim.org}_changed_")
    refused = control("POST", "files", {"name_pattern": "{org}_{nightly}_{YYYYMMDD}.csv"})
    assert refused.status_code == 400 and "{nightly}" in refused.json()["error"]


def test_cli_serves_and_prints_settings(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lumisync.simulator",
            "--port",
            "0",
            "--ftp-port",
            "0",
            "--ftps-port",
            "0",
            "--constituents",
            "50",
            "--ftp-root",
            str(tmp_path),
            "--write-file",
            "full",
            "--write-every",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        settings = None
        for line in proc.stdout:
            if line.startswith("{"):
                settings = json.loads(line)
                break
        assert settings is not None
        response = httpx.post(
            settings["api_url"],
            data={
                "method": "getUser",
                "api_key": settings["api_key"],
                "login_name": settings["api_login"],
                "login_password": settings["api_password"],
                "v": "1.0",
                "response_format": "json",
                "cons_id": "1000101",
            },
        )
        assert response.json()["getConsResponse"]["cons_id"] == "1000101"
        assert (tmp_path / settings["written_file"]).exists()
        assert settings["ftps_url"].startswith("ftps://127.0.0.1:")
        assert proc.stdout.readline().startswith("wrote simorg_changed_constituents_")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_cli_refuses_non_loopback_hosts(capsys):
    from lumisync.simulator.cli import main

    with pytest.raises(SystemExit):
        main(["--host", "10.1.2.3"])
    assert "loopback" in capsys.readouterr().err
