"""The client's fetcher and reader against the simulator's nightly file on its own FTP and FTPS servers.

The other tests here use servers and files written by the tests; these check that the two ends, written
apart, agree: names, manifests, encodings, headings and timestamps, and the simulator's FTP faults.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from lumisync.luminate.files import (
    BadRow,
    ChangedFileReader,
    Credentials,
    FileSource,
    InMemoryProcessedFiles,
    LoginRefused,
    Row,
    TLSRefused,
    TransferCut,
    UndecodableFile,
    fetch_changed_files,
)
from lumisync.simulator import SimulatorConfig, running_simulator

# Noon on the site's clock, which runs at UTC-5.
WRITTEN_AT = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
SITE_TZ = timezone(timedelta(hours=-5))
_FOLDERS = itertools.count(1)


@pytest.fixture(scope="module")
def ftp_sim():
    config = SimulatorConfig(
        seed=5, constituents=0, ftp=True, ftps=True, clock_start=WRITTEN_AT, clock_frozen=True
    )
    with running_simulator(config) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def changed(ftp_sim) -> dict[str, str]:
    """Three records changed an hour before the file is written; only the two with a mobile number are in
    the default (liberal) file."""
    ftp_sim.clock.set(WRITTEN_AT - timedelta(hours=1))
    ids = {
        "opted_in": ftp_sim.state.add_constituent(
            primary_email="opted@example.org",
            mobile_phone="2125550101",
            custom_boolean50=True,
            **{"name.first": "Zoë", "name.last": "O'Neil, Jr."},
        ),
        "mobile_only": ftp_sim.state.add_constituent(
            primary_email="mobile@example.org", mobile_phone="3125550102"
        ),
        "no_mobile": ftp_sim.state.add_constituent(primary_email="nomobile@example.org"),
    }
    ftp_sim.clock.set(WRITTEN_AT)
    return ids


@pytest.fixture(autouse=True)
def _reset(ftp_sim, changed):
    yield
    ftp_sim.ftp_faults.clear()
    ftp_sim.clock.set(WRITTEN_AT)


def publish(sim, folder: str | None = None, **options) -> tuple[str, str]:
    """The simulator's nightly file in a folder of its own; returns the folder's FTPS URL and the file name."""
    folder = folder or f"night{next(_FOLDERS)}"
    relative = sim.write_changed_file(folder=folder, **options)
    return f"{sim.ftps_url}{folder}/", relative.rpartition("/")[2]


def fetch(sim, url: str, *, password: str | None = None, processed=None, **options):
    source = FileSource(url, org=sim.org, ca_file=sim.ftps_cafile, allow_private=True, timeout=10, **options)
    credentials = Credentials(sim.ftp_user, sim.ftp_password if password is None else password)
    return fetch_changed_files(
        source, credentials, InMemoryProcessedFiles() if processed is None else processed
    )


def read(fetched, **options) -> list[Row | BadRow]:
    return list(ChangedFileReader(fetched.path, name=fetched.name, tz=SITE_TZ, **options))


def test_the_default_file_over_ftps(ftp_sim, changed):
    url, name = publish(ftp_sim)
    with fetch(ftp_sim, url) as result:
        (fetched,) = result.files
        assert (fetched.name, fetched.date) == (name, WRITTEN_AT.astimezone(SITE_TZ).date())
        rows = read(fetched)
    assert [row.cons_id for row in rows] == [changed["opted_in"], changed["mobile_only"]]
    first = rows[0]
    assert (first.get("first_name"), first.get("last_name")) == ("Zoë", "O'Neil, Jr.")
    assert first.modify_time == ftp_sim.state.get_constituent(changed["opted_in"])["modify_time"]


def test_the_default_file_over_plain_ftp(ftp_sim, changed):
    _, name = publish(ftp_sim, folder="plain")
    source = FileSource(f"{ftp_sim.ftp_url}plain/", org=ftp_sim.org, allow_private=True, timeout=10)
    with fetch_changed_files(
        source, Credentials(ftp_sim.ftp_user, ftp_sim.ftp_password), InMemoryProcessedFiles()
    ) as result:
        assert [fetched.name for fetched in result.files] == [name]
        assert len(read(result.files[0])) == 2


def test_report_labels_cp1252_semicolons_and_us_times(ftp_sim, changed):
    url, _ = publish(
        ftp_sim,
        header_style="label",
        encoding="cp1252",
        delimiter=";",
        line_ending="\n",
        quoting="all",
        timestamp_format="us",
    )
    with fetch(ftp_sim, url) as result:
        (fetched,) = result.files
        reader = ChangedFileReader(fetched.path, name=fetched.name, delimiter=";", tz=SITE_TZ)
        assert reader.encoding == "cp1252"
        assert reader.headings[:3] == ("Constituent ID", "Member ID", "Email")
        rows = list(reader)
    assert all(isinstance(row, Row) and not row.warnings for row in rows), rows
    assert rows[0].get("first_name") == "Zoë"
    modified = ftp_sim.state.get_constituent(changed["opted_in"])["modify_time"]
    assert rows[0].modify_time == modified.replace(second=0)


def test_a_name_pattern_with_the_org_token_is_read_back(ftp_sim, changed):
    url, name = publish(ftp_sim, name_pattern="{org}_changed_{YYYY-MM-DD}.csv")
    assert name == f"{ftp_sim.org}_changed_2026-03-02.csv"
    with fetch(ftp_sim, url, pattern="{org}_changed_{YYYY-MM-DD}.csv") as result:
        assert [(fetched.name, fetched.date.isoformat()) for fetched in result.files] == [
            (name, "2026-03-02")
        ]


def test_the_simulators_manifest_marks_the_file_ready(ftp_sim, changed):
    url, name = publish(ftp_sim, manifest=True)
    with fetch(ftp_sim, url, manifest=True) as result:
        assert [fetched.name for fetched in result.files] == [name]


def test_a_missing_manifest_holds_back_the_file_and_every_newer_one(ftp_sim, changed):
    folder = f"night{next(_FOLDERS)}"
    ftp_sim.ftp_faults.inject("missing_manifest")
    url, older = publish(ftp_sim, folder, manifest=True)
    ftp_sim.clock.advance(86400)
    _, newer = publish(ftp_sim, folder, manifest=True)
    with fetch(ftp_sim, url, manifest=True) as result:
        assert (result.files, result.not_ready, result.held_back) == ([], [older], [newer])


def test_a_file_skipped_by_name_is_not_waited_for(ftp_sim, changed):
    folder = f"night{next(_FOLDERS)}"
    ftp_sim.ftp_faults.inject("missing_manifest")
    url, older = publish(ftp_sim, folder, manifest=True)
    ftp_sim.clock.advance(86400)
    _, newer = publish(ftp_sim, folder, manifest=True)
    processed = InMemoryProcessedFiles()
    processed.skip(older)
    with fetch(ftp_sim, url, manifest=True, processed=processed) as result:
        assert [fetched.name for fetched in result.files] == [newer]
        assert (result.not_ready, result.already_processed) == ([], [older])


def test_a_cut_transfer_hands_nothing_over_and_the_next_run_gets_the_file(ftp_sim, changed):
    url, name = publish(ftp_sim)
    ftp_sim.ftp_faults.inject("cut")
    with pytest.raises(TransferCut, match=name):
        fetch(ftp_sim, url)
    with fetch(ftp_sim, url) as result:
        assert len(read(result.files[0])) == 2


def test_a_file_in_the_wrong_encoding(ftp_sim, changed):
    ftp_sim.ftp_faults.inject("wrong_encoding")
    url, name = publish(ftp_sim, encoding="utf-8")
    with fetch(ftp_sim, url) as result:
        (fetched,) = result.files
        with pytest.raises(UndecodableFile, match=name):
            ChangedFileReader(fetched.path, name=fetched.name, encoding="utf-8")
        reader = ChangedFileReader(fetched.path, name=fetched.name)
        assert reader.encoding == "cp1252"
        assert next(iter(reader)).get("first_name") == "Zoë"


def test_a_refused_login_and_a_refused_tls(ftp_sim, changed):
    url, _ = publish(ftp_sim)
    ftp_sim.ftp_faults.inject("login")
    with pytest.raises(LoginRefused, match=ftp_sim.ftp_user):
        fetch(ftp_sim, url)
    ftp_sim.ftp_faults.inject("tls_refused")
    with pytest.raises(TLSRefused, match="AUTH TLS"):
        fetch(ftp_sim, url)
    with pytest.raises(LoginRefused):
        fetch(ftp_sim, url, password="not-the-password")
