"""A canary password and API key, and a canary file-server password, never surface in logs, output,
exception texts or reprs."""

from __future__ import annotations

import asyncio
import logging
import socket
import traceback

import pytest

from lumisync.luminate import (
    AsyncLuminateClient,
    Credentials,
    LuminateClient,
    LuminateError,
    RetryPolicy,
    SiteConfig,
)
from lumisync.luminate.files import Credentials as FileCredentials
from lumisync.luminate.files import (
    FileSource,
    InMemoryProcessedFiles,
    LoginRefused,
    TransferCut,
    fetch_changed_files,
)
from lumisync.simulator import SimulatorConfig, running_simulator

CANARY_PASSWORD = "canary-Pa55&word=%2F secret"
CANARY_KEY = "canary-api-key-7f3e"
CANARY_FTP_PASSWORD = "canary-ftp-Pa55:word@%2F"


def texts_of(error: BaseException) -> list[str]:
    return [str(error), repr(error), *getattr(error, "__notes__", ()), *traceback.format_exception(error)]


def test_canary_secrets_never_appear(caplog, capsys):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    config = SimulatorConfig(seed=3, constituents=20, api_key=CANARY_KEY, login_password=CANARY_PASSWORD)
    with running_simulator(config) as sim:
        creds = Credentials(api_key=CANARY_KEY, login_name=sim.login_name, login_password=CANARY_PASSWORD)
        site = SiteConfig(
            host=sim.host,
            org=sim.org,
            credentials=creds,
            allow_http=True,
            allow_private=True,
            read_timeout=0.3,
            rate=None,
            retry=RetryPolicy(max_attempts=2, base=0.001, cap=0.001),
        )
        ids = sim.state.seeded_ids(5)
        with LuminateClient(site) as client:
            seen += [repr(client), repr(site), str(site), repr(creds), str(creds)]
            assert client.get_user(cons_id=ids[0])["cons_id"] == ids[0]
            for kind, params in [
                ("error", {"code": 3, "message": f"bad password {CANARY_PASSWORD} key {CANARY_KEY}"}),
                ("error", {"code": 1}),
                ("hang", {}),
                ("reset", {}),
                ("http", {"status": 500, "body": "html"}),
                ("malformed", {"variant": "truncated_json"}),
            ]:
                sim.faults.clear()
                sim.faults.inject(None, kind, count=5, **params)
                with pytest.raises(LuminateError) as caught:
                    client.get_user(cons_id=ids[1])
                seen += texts_of(caught.value)
            sim.faults.clear()
            with pytest.raises(LuminateError) as caught:
                client.update(
                    {"name.first": "x"}, cons_id="99999999", interaction_subject="s", interaction_body="b"
                )
            seen += texts_of(caught.value)
        wrong = SiteConfig(
            host=sim.host,
            org=sim.org,
            credentials=Credentials(CANARY_KEY, sim.login_name, CANARY_PASSWORD + "-wrong"),
            allow_http=True,
            allow_private=True,
            rate=None,
        )
        with LuminateClient(wrong) as client, pytest.raises(LuminateError) as caught:
            client.get_user(cons_id=ids[0])
        seen += texts_of(caught.value)

        async def stream():
            async with AsyncLuminateClient(site) as client:
                sim.faults.inject("getUser", "error", probability=0.5, code=1)
                return [result async for result in client.get_users([*ids, "99999999"])]

        for result in asyncio.run(stream()):
            seen.append(repr(result))
            if result.error is not None:
                seen += texts_of(result.error)

        seen += [str(entry) for entry in sim.request_log]

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    refused = SiteConfig(
        host=f"127.0.0.1:{closed_port}",
        credentials=creds,
        allow_http=True,
        allow_private=True,
        rate=None,
        retry=RetryPolicy(max_attempts=2, base=0.001, cap=0.001),
    )
    with LuminateClient(refused) as client, pytest.raises(LuminateError) as caught:
        client.get_user(cons_id="1")
    seen += texts_of(caught.value)

    captured = capsys.readouterr()
    seen += [captured.out, captured.err, caplog.text]
    seen += [record.getMessage() for record in caplog.records]
    assert any("retrying" in text for text in seen), "the retries should have been logged"
    everything = "\n".join(seen)
    assert "bad password *** key ***" in everything, "Luminate's message should be kept, scrubbed"
    for secret in (CANARY_PASSWORD, CANARY_KEY, "canary-Pa55"):
        assert secret not in everything


def test_canary_file_password_never_appears(caplog, capsys, tmp_path):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    config = SimulatorConfig(seed=3, constituents=20, ftps=True, ftp_password=CANARY_FTP_PASSWORD)
    with running_simulator(config) as sim:
        sim.write_changed_file(mode="full")
        source = FileSource(sim.ftps_url, org=sim.org, ca_file=sim.ftps_cafile, allow_private=True, timeout=5)
        right = FileCredentials(sim.ftp_user, CANARY_FTP_PASSWORD)
        wrong = FileCredentials(sim.ftp_user, CANARY_FTP_PASSWORD + "-wrong")
        seen += [repr(right), str(right), repr(wrong), repr(source)]
        with pytest.raises(LoginRefused) as refused:
            fetch_changed_files(source, wrong, InMemoryProcessedFiles(), workdir=tmp_path)
        seen += texts_of(refused.value)
        sim.ftp_faults.inject("cut")
        with pytest.raises(TransferCut) as cut:
            fetch_changed_files(source, right, InMemoryProcessedFiles(), workdir=tmp_path)
        seen += texts_of(cut.value)
        with fetch_changed_files(source, right, InMemoryProcessedFiles(), workdir=tmp_path) as result:
            seen += [repr(result), *(repr(fetched) for fetched in result.files)]
            assert len(result.files) == 1

    captured = capsys.readouterr()
    seen += [captured.out, captured.err, caplog.text, *(record.getMessage() for record in caplog.records)]
    everything = "\n".join(seen)
    assert "refused the login of user 'datasync'" in everything and "was cut after" in everything
    for secret in (CANARY_FTP_PASSWORD, "canary-ftp-Pa55"):
        assert secret not in everything
