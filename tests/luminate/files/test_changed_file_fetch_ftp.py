"""Fetching changed files from real FTP and FTPS servers on 127.0.0.1."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from changed_file_accounts import PASSWORD, USER
from pyftpdlib.handlers import FTPHandler

from lumisync.luminate.egress import EgressRefused
from lumisync.luminate.files import (
    CertificateMismatch,
    ChangedFileReader,
    Credentials,
    FileMissing,
    FileSource,
    InMemoryProcessedFiles,
    LoginRefused,
    TLSRefused,
    TransferCut,
    fetch_changed_files,
)

CREDENTIALS = Credentials(USER, PASSWORD)
CSV = b"CONS_ID,PRIMARY_EMAIL\r\n1001234,pat@example.org\r\n1001235,sam@example.org\r\n"


def source(url: str, **options) -> FileSource:
    options.setdefault("org", "acme")
    return FileSource(url, allow_private=True, timeout=10, **options)


def drop(folder, name: str, content: bytes = CSV) -> None:
    (folder / name).write_bytes(content)


def test_lists_matching_files_oldest_first_and_hands_them_over_complete(ftp_server, tmp_path):
    drop(ftp_server.home, "acme_changed_constituents_20240302.csv", CSV + b"1001236,x@example.org\r\n")
    drop(ftp_server.home, "acme_changed_constituents_20240228.csv")
    drop(ftp_server.home, "acme_changed_constituents_20240301.csv")
    drop(ftp_server.home, "other_changed_constituents_20240301.csv")
    drop(ftp_server.home, "acme_changed_constituents_2024030.csv")
    drop(ftp_server.home, "acme_changed_constituents_20241399.csv")
    drop(ftp_server.home, "notes.txt")

    with fetch_changed_files(source(ftp_server.url), CREDENTIALS, InMemoryProcessedFiles()) as result:
        assert [f.name for f in result.files] == [
            "acme_changed_constituents_20240228.csv",
            "acme_changed_constituents_20240301.csv",
            "acme_changed_constituents_20240302.csv",
        ]
        assert [f.date for f in result.files] == [date(2024, 2, 28), date(2024, 3, 1), date(2024, 3, 2)]
        newest = result.files[-1]
        expected = CSV + b"1001236,x@example.org\r\n"
        assert newest.path.read_bytes() == expected
        assert newest.size == len(expected)
        assert newest.sha256 == hashlib.sha256(expected).hexdigest()
        rows = list(ChangedFileReader(newest.path, name=newest.name))
        assert [row.cons_id for row in rows] == ["1001234", "1001235", "1001236"]
        directory = result.directory
    assert not directory.exists()


def test_a_processed_file_is_not_handed_over_again_but_a_changed_one_is(ftp_server):
    name = "acme_changed_constituents_20240301.csv"
    drop(ftp_server.home, name)
    processed = InMemoryProcessedFiles()

    with fetch_changed_files(source(ftp_server.url), CREDENTIALS, processed) as first:
        (fetched,) = first.files
        processed.remember(fetched.name, fetched.size, fetched.sha256)

    with fetch_changed_files(source(ftp_server.url), CREDENTIALS, processed) as second:
        assert second.files == []
        assert second.already_processed == [name]

    drop(ftp_server.home, name, CSV + b"1001299,late@example.org\r\n")
    with fetch_changed_files(source(ftp_server.url), CREDENTIALS, processed) as third:
        assert [f.name for f in third.files] == [name]
        assert third.files[0].sha256 != fetched.sha256


def test_a_file_not_remembered_is_offered_again(ftp_server):
    drop(ftp_server.home, "acme_changed_constituents_20240301.csv")
    processed = InMemoryProcessedFiles()
    for _ in range(2):
        with fetch_changed_files(source(ftp_server.url), CREDENTIALS, processed) as result:
            assert len(result.files) == 1


def test_listing_without_mlsd_falls_back_to_nlst_and_size(start_ftp, tmp_path):
    commands = {name: spec for name, spec in FTPHandler.proto_cmds.items() if name != "MLSD"}
    server = start_ftp(type("OldHandler", (FTPHandler,), {"proto_cmds": commands}))
    drop(server.home, "acme_changed_constituents_20240302.csv")
    drop(server.home, "acme_changed_constituents_20240301.csv", CSV * 2)
    with fetch_changed_files(source(server.url), CREDENTIALS, InMemoryProcessedFiles()) as result:
        assert [(f.name, f.size) for f in result.files] == [
            ("acme_changed_constituents_20240301.csv", 2 * len(CSV)),
            ("acme_changed_constituents_20240302.csv", len(CSV)),
        ]


def test_a_password_in_the_url_is_refused(ftp_server):
    url = ftp_server.url.replace("ftp://", f"ftp://{USER}:{PASSWORD}@")
    with pytest.raises(ValueError, match="password field") as caught:
        fetch_changed_files(source(url), CREDENTIALS, InMemoryProcessedFiles())
    assert PASSWORD not in str(caught.value)


def test_since_skips_older_files(ftp_server):
    drop(ftp_server.home, "acme_changed_constituents_20240228.csv")
    drop(ftp_server.home, "acme_changed_constituents_20240301.csv")
    with fetch_changed_files(
        source(ftp_server.url), CREDENTIALS, InMemoryProcessedFiles(), since=date(2024, 3, 1)
    ) as result:
        assert [f.name for f in result.files] == ["acme_changed_constituents_20240301.csv"]


def test_folder_and_pattern_in_the_url(ftp_server):
    export = ftp_server.home / "export"
    export.mkdir()
    drop(export, "acme-2024-03-01.txt")
    drop(ftp_server.home, "acme-2024-03-02.txt")
    url = ftp_server.url + "export/{org}-{YYYY-MM-DD}.txt"
    with fetch_changed_files(source(url), CREDENTIALS, InMemoryProcessedFiles()) as result:
        assert [f.name for f in result.files] == ["acme-2024-03-01.txt"]


def test_missing_folder_is_reported(ftp_server):
    with pytest.raises(FileMissing, match="'export'.*127.0.0.1"):
        fetch_changed_files(source(ftp_server.url + "export/"), CREDENTIALS, InMemoryProcessedFiles())


def test_no_matching_file_is_an_empty_result(ftp_server):
    drop(ftp_server.home, "notes.txt")
    with fetch_changed_files(source(ftp_server.url), CREDENTIALS, InMemoryProcessedFiles()) as result:
        assert result.files == [] and result.not_ready == [] and result.already_processed == []


def test_a_file_without_its_manifest_holds_back_every_newer_file(ftp_server):
    drop(ftp_server.home, "acme_changed_constituents_20240301.csv")
    drop(ftp_server.home, "acme_changed_constituents_20240301.csv.manifest", b"")
    drop(ftp_server.home, "acme_changed_constituents_20240302.csv")
    drop(ftp_server.home, "acme_changed_constituents_20240303.csv")
    drop(ftp_server.home, "acme_changed_constituents_20240303.manifest", b"")
    drop(ftp_server.home, "acme_changed_constituents_20240304.csv")
    drop(ftp_server.home, "acme_changed_constituents_20240304.manifest", b"")

    with fetch_changed_files(
        source(ftp_server.url, manifest=True), CREDENTIALS, InMemoryProcessedFiles()
    ) as result:
        assert [f.name for f in result.files] == ["acme_changed_constituents_20240301.csv"]
        assert result.not_ready == ["acme_changed_constituents_20240302.csv"]
        assert result.held_back == [
            "acme_changed_constituents_20240303.csv",
            "acme_changed_constituents_20240304.csv",
        ]

    drop(ftp_server.home, "acme_changed_constituents_20240302.manifest", b"")
    with fetch_changed_files(
        source(ftp_server.url, manifest=True), CREDENTIALS, InMemoryProcessedFiles()
    ) as result:
        assert [f.date for f in result.files] == [date(2024, 3, day) for day in (1, 2, 3, 4)]
        assert result.not_ready == [] and result.held_back == []


def test_without_manifests_every_file_is_ready(ftp_server):
    drop(ftp_server.home, "acme_changed_constituents_20240301.csv")
    drop(ftp_server.home, "acme_changed_constituents_20240302.csv")
    with fetch_changed_files(source(ftp_server.url), CREDENTIALS, InMemoryProcessedFiles()) as result:
        assert len(result.files) == 2 and result.not_ready == []


def test_wrong_password_is_a_login_refusal_that_hides_the_password(ftp_server):
    wrong = Credentials(USER, "Wrong-" + PASSWORD)
    with pytest.raises(LoginRefused) as caught:
        fetch_changed_files(source(ftp_server.url), wrong, InMemoryProcessedFiles())
    message = str(caught.value)
    assert "127.0.0.1" in message and USER in message and "password" in message
    assert PASSWORD not in message and PASSWORD not in repr(caught.value)
    assert caught.value.host == "127.0.0.1"


def test_credentials_repr_hides_the_password():
    assert PASSWORD not in repr(CREDENTIALS) and PASSWORD not in str(CREDENTIALS)
    assert USER in repr(CREDENTIALS)


@pytest.mark.parametrize("abort", [False, True], ids=["server-reports-success", "server-aborts"])
def test_a_cut_transfer_hands_nothing_over(cutting_ftp_server, tmp_path, abort):
    server = cutting_ftp_server(cut_after=40, abort=abort)
    drop(server.home, "acme_changed_constituents_20240301.csv", CSV * 50)
    workdir = tmp_path / "work"
    workdir.mkdir()
    with pytest.raises(TransferCut, match="acme_changed_constituents_20240301.csv.*127.0.0.1"):
        fetch_changed_files(source(server.url), CREDENTIALS, InMemoryProcessedFiles(), workdir=workdir)
    assert list(workdir.iterdir()) == []


def test_private_host_is_refused_unless_allowed(ftp_server):
    with pytest.raises(EgressRefused):
        fetch_changed_files(FileSource(ftp_server.url), CREDENTIALS, InMemoryProcessedFiles())


# FTPS


def test_ftps_with_the_certificate_as_ca_file(ftps_server, server_cert):
    drop(ftps_server.home, "acme_changed_constituents_20240301.csv")
    settings = source(ftps_server.url, ca_file=str(server_cert.cert_file))
    with fetch_changed_files(settings, CREDENTIALS, InMemoryProcessedFiles()) as result:
        (fetched,) = result.files
        assert fetched.path.read_bytes() == CSV


def test_ftps_with_a_pinned_fingerprint(ftps_server, server_cert):
    drop(ftps_server.home, "acme_changed_constituents_20240301.csv")
    colons = ":".join(server_cert.fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    with fetch_changed_files(
        source(ftps_server.url, fingerprint=colons), CREDENTIALS, InMemoryProcessedFiles()
    ) as result:
        assert [f.size for f in result.files] == [len(CSV)]


def test_ftps_refuses_a_certificate_it_does_not_know(ftps_server):
    drop(ftps_server.home, "acme_changed_constituents_20240301.csv")
    with pytest.raises(CertificateMismatch, match="127.0.0.1.*not trusted"):
        fetch_changed_files(source(ftps_server.url), CREDENTIALS, InMemoryProcessedFiles())


def test_ftps_refuses_a_certificate_signed_by_another_ca(ftps_server, other_cert):
    with pytest.raises(CertificateMismatch, match="not trusted"):
        fetch_changed_files(
            source(ftps_server.url, ca_file=str(other_cert.cert_file)), CREDENTIALS, InMemoryProcessedFiles()
        )


def test_ftps_refuses_a_certificate_with_another_fingerprint(ftps_server, other_cert):
    with pytest.raises(CertificateMismatch, match="pinned") as caught:
        fetch_changed_files(
            source(ftps_server.url, fingerprint=other_cert.fingerprint), CREDENTIALS, InMemoryProcessedFiles()
        )
    assert PASSWORD not in str(caught.value)


def test_ftps_login_failure(ftps_server, server_cert):
    settings = source(ftps_server.url, ca_file=str(server_cert.cert_file))
    with pytest.raises(LoginRefused, match="127.0.0.1") as caught:
        fetch_changed_files(settings, Credentials(USER, "nope-" + PASSWORD), InMemoryProcessedFiles())
    assert PASSWORD not in str(caught.value)


def test_ftps_against_a_server_without_tls_is_refused(ftp_server):
    url = ftp_server.url.replace("ftp://", "ftps://")
    with pytest.raises(TLSRefused, match="AUTH TLS"):
        fetch_changed_files(source(url), CREDENTIALS, InMemoryProcessedFiles())


def test_plain_ftp_login_is_refused_by_a_server_requiring_tls(ftps_server):
    url = ftps_server.url.replace("ftps://", "ftp://")
    with pytest.raises(LoginRefused):
        fetch_changed_files(source(url), CREDENTIALS, InMemoryProcessedFiles())


def test_a_bad_fingerprint_setting_is_refused_before_connecting(ftps_server):
    with pytest.raises(ValueError, match="SHA-256"):
        fetch_changed_files(source(ftps_server.url, fingerprint="abc"), CREDENTIALS, InMemoryProcessedFiles())
