"""The nightly changed-records file over plain FTP and explicit FTPS."""

from __future__ import annotations

import csv
import ftplib
import io
import itertools
import ssl
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from .conftest import START

_DAYS = itertools.count(400, 3)


def _ftp(sim) -> ftplib.FTP:
    url = urlsplit(sim.ftp_url)
    ftp = ftplib.FTP()
    ftp.connect(url.hostname, url.port, timeout=10)
    ftp.login(sim.ftp_user, sim.ftp_password)
    return ftp


def _ftps(sim) -> ftplib.FTP_TLS:
    url = urlsplit(sim.ftps_url)
    context = ssl.create_default_context(cafile=sim.ftps_cafile)
    ftps = ftplib.FTP_TLS(context=context, timeout=10)
    ftps.connect(url.hostname, url.port)
    ftps.auth()
    ftps.login(sim.ftp_user, sim.ftp_password)
    ftps.prot_p()
    return ftps


def _fetch(ftp: ftplib.FTP, name: str) -> bytes:
    out = io.BytesIO()
    ftp.retrbinary(f"RETR {name}", out.write)
    return out.getvalue()


def _rows(data: bytes, encoding: str = "utf-8", delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline=""), delimiter=delimiter))


@pytest.fixture
def changed(sim):
    """Three fresh records changed an hour before now: opted-in mobile, mobile only, no mobile.

    Each test gets its own day, so records of earlier tests fall outside its 24-hour window.
    """
    sim.clock.set(START + timedelta(days=next(_DAYS), hours=12))
    ids = {
        "opted_in": sim.state.add_constituent(
            primary_email="opted@example.org",
            mobile_phone="2125550101",
            custom_boolean50=True,
            **{"name.last": "O'Neil, Jr."},
        ),
        "mobile_only": sim.state.add_constituent(
            primary_email="mobile@example.org", mobile_phone="3125550102", **{"name.first": "Zoë"}
        ),
        "no_mobile": sim.state.add_constituent(primary_email="nomobile@example.org"),
    }
    sim.clock.advance(3600)
    return ids


def test_ftps_download_with_protected_data_channel(sim, changed):
    name = sim.write_changed_file(mode="liberal")
    local_day = (sim.clock.now() - timedelta(hours=5)).strftime("%Y%m%d")
    assert name == f"{sim.org}_changed_constituents_{local_day}.csv"
    with _ftps(sim) as ftps:
        assert name in ftps.nlst()
        rows = _rows(_fetch(ftps, name))
    assert rows[0] == [
        "CONS_ID",
        "MEMBER_ID",
        "PRIMARY_EMAIL",
        "FIRST_NAME",
        "LAST_NAME",
        "MOBILE_PHONE",
        "MODIFY_DATE",
    ]
    ids = [r[0] for r in rows[1:]]
    assert ids == [changed["opted_in"], changed["mobile_only"]]
    assert rows[1][4] == "O'Neil, Jr." and rows[2][3] == "Zoë"


def test_ftps_port_requires_tls(sim):
    url = urlsplit(sim.ftps_url)
    ftp = ftplib.FTP()
    ftp.connect(url.hostname, url.port, timeout=10)
    with pytest.raises(ftplib.error_perm):
        ftp.login(sim.ftp_user, sim.ftp_password)
    ftp.close()


def test_plain_ftp_download_and_bad_password(sim, changed):
    name = sim.write_changed_file(mode="full")
    with _ftp(sim) as ftp:
        rows = _rows(_fetch(ftp, name))
    ids = {r[0] for r in rows[1:]}
    assert set(changed.values()) <= ids and len(ids) == sim.state.count()
    url = urlsplit(sim.ftp_url)
    ftp = ftplib.FTP()
    ftp.connect(url.hostname, url.port, timeout=10)
    with pytest.raises(ftplib.error_perm):
        ftp.login(sim.ftp_user, "wrong")
    ftp.close()


def test_conservative_needs_mobile_and_opt_in(sim, changed):
    name = sim.write_changed_file(mode="conservative")
    with _ftp(sim) as ftp:
        ids = [r[0] for r in _rows(_fetch(ftp, name))[1:]]
    assert ids == [changed["opted_in"]]


def test_seeded_window_filters_by_modify_time(sim):
    until = START
    name = sim.write_changed_file(since=until - timedelta(days=2), until=until, mode="liberal")
    with _ftp(sim) as ftp:
        rows = _rows(_fetch(ftp, name))[1:]
    assert rows
    for row in rows:
        record = sim.state.get_constituent(row[0])
        assert until - timedelta(days=2) <= record["modify_time"] < until
        assert record["mobile_phone"] == row[5] != ""


def test_label_headers_cp1252_semicolons_lf_all_quoted_us_time(sim, changed):
    name = sim.write_changed_file(
        header_style="label",
        encoding="cp1252",
        delimiter=";",
        line_ending="\n",
        quoting="all",
        timestamp_format="us",
    )
    with _ftp(sim) as ftp:
        data = _fetch(ftp, name)
    assert b"\r\n" not in data and data.startswith(b'"Constituent ID";"Member ID";"Email"')
    rows = _rows(data, "cp1252", ";")
    assert rows[2][3] == "Zoë"
    assert rows[1][6].endswith(("AM", "PM")) and rows[1][6][2] == "/"


def test_utf8_bom_and_iso_timestamps(sim, changed):
    name = sim.write_changed_file(encoding="utf-8-sig", timestamp_format="iso")
    with _ftp(sim) as ftp:
        data = _fetch(ftp, name)
    assert data.startswith(b"\xef\xbb\xbfCONS_ID")
    assert _rows(data, "utf-8-sig")[1][6].endswith("-05:00")


def test_folder_pattern_and_manifest_written_after_the_csv(sim, changed):
    name = sim.write_changed_file(
        folder="export", manifest=True, name_pattern="{shortname}-{YYYY}-{MM}-{DD}.csv"
    )
    assert name.startswith("export/") and name.endswith(".csv")
    with _ftps(sim) as ftps:
        listing = ftps.nlst("export")
        manifest = name[:-4] + ".manifest"
        assert {name.split("/")[1], manifest.split("/")[1]} <= {n.split("/")[-1] for n in listing}
        assert _fetch(ftps, manifest) == b""


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("{org}_changed_{YYYYMMDD}.csv", "simorg_changed_20270407.csv"),
        ("{shortname}-{YYYY-MM-DD}.csv", "simorg-2027-04-07.csv"),
        ("changes_{YYMMDD}_{HHMMSS}.txt", "changes_270407_010000.txt"),
        ("{org}.{YY}{MM}{DD}.csv", "simorg.270407.csv"),
    ],
)
def test_file_name_tokens(sim, pattern, expected):
    # 06:00 UTC is 01:00 on the site's clock (UTC-5).
    sim.clock.set(START.replace(year=2027, month=4, day=7))
    assert sim.write_changed_file(name_pattern=pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "complaint"),
    [
        ("{org}_{month}_{YYYYMMDD}.csv", r"unknown token\(s\) \{month\}"),
        ("{org}_changes.csv", "needs a date token"),
        ("{org}_{YYYY}.csv", "needs a date token"),
    ],
)
def test_bad_file_name_pattern_is_refused_with_the_reason(sim, pattern, complaint):
    with pytest.raises(ValueError, match=complaint):
        sim.write_changed_file(name_pattern=pattern)


def test_donation_columns(sim):
    name = sim.write_changed_file(mode="full", donation_columns=True)
    with _ftp(sim) as ftp:
        rows = _rows(_fetch(ftp, name))
    assert rows[0][7:] == [
        "DONATION_FORM_ID",
        "DONATION_LEVEL_ID",
        "TRANSACTION_ID",
        "CONFIRMATION_CODE",
        "DONATION_AMOUNT",
        "DONOR_EMAIL",
        "BILLING_STREET1",
        "BILLING_CITY",
        "BILLING_STATE",
        "BILLING_ZIP",
    ]
    donors = [r for r in rows[1:] if r[7]]
    assert donors and all(r[11].endswith(".00") for r in donors)


def test_bad_file_option_names_the_option(sim):
    with pytest.raises(ValueError, match="encoding"):
        sim.write_changed_file(encoding="latin-9")
    with pytest.raises(ValueError, match="colour"):
        sim.write_changed_file(colour="blue")


def test_fault_login_failure(sim):
    sim.ftp_faults.inject("login")
    with pytest.raises(ftplib.error_perm):
        _ftp(sim)
    _ftp(sim).close()


def test_fault_tls_refused(sim):
    sim.ftp_faults.inject("tls_refused")
    url = urlsplit(sim.ftps_url)
    ftps = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=sim.ftps_cafile), timeout=10)
    ftps.connect(url.hostname, url.port)
    with pytest.raises(ftplib.error_perm, match="534"):
        ftps.auth()
    ftps.close()


def test_fault_transfer_cut_mid_file(sim):
    name = sim.write_changed_file(mode="full")
    size = len(_fetch(_ftp(sim), name))
    sim.ftp_faults.inject("cut")
    received = io.BytesIO()
    with _ftps(sim) as ftps, pytest.raises(ftplib.error_temp, match="426"):
        ftps.retrbinary(f"RETR {name}", received.write)
    assert 0 < len(received.getvalue()) < size


def test_fault_missing_file_and_manifest(sim, changed):
    sim.ftp_faults.inject("missing_file")
    name = sim.write_changed_file(manifest=True, name_pattern="missing_{YYYYMMDD}.csv")
    with _ftp(sim) as ftp:
        assert name not in ftp.nlst()
        sim.ftp_faults.inject("missing_manifest")
        name = sim.write_changed_file(manifest=True, name_pattern="nomanifest_{YYYYMMDD}.csv")
        listing = ftp.nlst()
    assert name in listing and name[:-4] + ".manifest" not in listing


def test_fault_wrong_encoding(sim, changed):
    sim.ftp_faults.inject("wrong_encoding")
    name = sim.write_changed_file(encoding="utf-8")
    with _ftp(sim) as ftp:
        data = _fetch(ftp, name)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert "Zoë" in data.decode("cp1252")
