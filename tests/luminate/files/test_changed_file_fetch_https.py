"""Fetching the relayed changed file from a real HTTPS server on 127.0.0.1."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from changed_file_accounts import PASSWORD, USER

from lumisync.luminate.egress import EgressRefused
from lumisync.luminate.files import (
    CertificateMismatch,
    Credentials,
    FetchError,
    FileMissing,
    FileSource,
    InMemoryProcessedFiles,
    LoginRefused,
    RedirectRefused,
    TransferCut,
    fetch_changed_files,
)

CSV = b"CONS_ID,PRIMARY_EMAIL\r\n1001234,pat@example.org\r\n"
NAME = "acme_changed_constituents_20240301.csv"
CREDENTIALS = Credentials(USER, PASSWORD)


def source(url: str, **options) -> FileSource:
    return FileSource(url, org="acme", allow_private=True, timeout=10, **options)


def test_one_file_listing_verified_by_ca_file(https_server, server_cert):
    https_server.routes[f"/relay/{NAME}"] = (200, {}, CSV)
    settings = source(f"{https_server.base}/relay/{NAME}", ca_file=str(server_cert.cert_file))
    with fetch_changed_files(settings, CREDENTIALS, InMemoryProcessedFiles()) as result:
        (fetched,) = result.files
        assert fetched.name == NAME
        assert fetched.date == date(2024, 3, 1)
        assert fetched.path.read_bytes() == CSV
        assert fetched.sha256 == hashlib.sha256(CSV).hexdigest()


def test_a_fixed_name_is_handed_over_again_only_when_its_content_changes(https_server, server_cert):
    https_server.routes["/latest.csv"] = (200, {}, CSV)
    settings = source(f"{https_server.base}/latest.csv", fingerprint=server_cert.fingerprint)
    processed = InMemoryProcessedFiles()
    with fetch_changed_files(settings, CREDENTIALS, processed) as first:
        (fetched,) = first.files
        assert fetched.date is None
        processed.remember(fetched.name, fetched.size, fetched.sha256)
    with fetch_changed_files(settings, CREDENTIALS, processed) as second:
        assert second.files == [] and second.already_processed == ["latest.csv"]
    https_server.routes["/latest.csv"] = (200, {}, CSV + b"1001235,sam@example.org\r\n")
    with fetch_changed_files(settings, CREDENTIALS, processed) as third:
        assert [f.name for f in third.files] == ["latest.csv"]


def test_a_redirect_is_not_followed(https_server, server_cert):
    https_server.routes["/old.csv"] = (302, {"Location": "/new.csv"}, b"")
    https_server.routes["/new.csv"] = (200, {}, CSV)
    settings = source(f"{https_server.base}/old.csv", ca_file=str(server_cert.cert_file))
    with pytest.raises(RedirectRefused, match="/new.csv"):
        fetch_changed_files(settings, CREDENTIALS, InMemoryProcessedFiles())
    assert https_server.requests == ["/old.csv"]


def test_unknown_certificate_is_refused(https_server):
    https_server.routes[f"/{NAME}"] = (200, {}, CSV)
    with pytest.raises(CertificateMismatch, match="not trusted"):
        fetch_changed_files(source(f"{https_server.base}/{NAME}"), CREDENTIALS, InMemoryProcessedFiles())
    assert https_server.requests == []


def test_another_pinned_fingerprint_is_refused(https_server, other_cert):
    https_server.routes[f"/{NAME}"] = (200, {}, CSV)
    settings = source(f"{https_server.base}/{NAME}", fingerprint=other_cert.fingerprint)
    with pytest.raises(CertificateMismatch, match="pinned"):
        fetch_changed_files(settings, CREDENTIALS, InMemoryProcessedFiles())
    assert https_server.requests == [], "no request (and so no credentials) may reach an unpinned server"


def test_a_cut_body_hands_nothing_over(https_server, server_cert, tmp_path):
    https_server.routes[f"/{NAME}"] = (200, {"Content-Length": str(len(CSV) + 500)}, CSV)
    settings = source(f"{https_server.base}/{NAME}", ca_file=str(server_cert.cert_file))
    with pytest.raises(TransferCut, match=f"{NAME}.*127.0.0.1"):
        fetch_changed_files(settings, CREDENTIALS, InMemoryProcessedFiles(), workdir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("status", "error"), [(401, LoginRefused), (403, LoginRefused), (404, FileMissing), (503, FetchError)]
)
def test_statuses_become_typed_errors(https_server, server_cert, status, error):
    https_server.routes[f"/{NAME}"] = (status, {}, b"nope")
    settings = source(f"{https_server.base}/{NAME}", ca_file=str(server_cert.cert_file))
    with pytest.raises(error, match="127.0.0.1") as caught:
        fetch_changed_files(settings, CREDENTIALS, InMemoryProcessedFiles())
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    "marker",
    ["acme_changed_constituents_20240301.manifest", f"{NAME}.manifest"],
    ids=["luminate-name.manifest", "name.csv.manifest"],
)
def test_manifest_over_https(https_server, server_cert, marker):
    https_server.routes[f"/relay/{NAME}"] = (200, {}, CSV)
    settings = source(f"{https_server.base}/relay/{NAME}", ca_file=str(server_cert.cert_file), manifest=True)
    with fetch_changed_files(settings, CREDENTIALS, InMemoryProcessedFiles()) as result:
        assert result.files == [] and result.not_ready == [NAME]
    assert f"/relay/{NAME}" not in https_server.requests, "a file that is not ready is not downloaded"
    https_server.routes[f"/relay/{marker}"] = (200, {}, b"")
    with fetch_changed_files(settings, CREDENTIALS, InMemoryProcessedFiles()) as result:
        assert [f.name for f in result.files] == [NAME] and result.not_ready == []


def test_a_manifest_answer_other_than_not_found_is_an_error(https_server, server_cert):
    https_server.routes[f"/{NAME}"] = (200, {}, CSV)
    https_server.routes["/acme_changed_constituents_20240301.manifest"] = (403, {}, b"")
    settings = source(f"{https_server.base}/{NAME}", ca_file=str(server_cert.cert_file), manifest=True)
    with pytest.raises(LoginRefused, match="manifest"):
        fetch_changed_files(settings, CREDENTIALS, InMemoryProcessedFiles())


def test_plain_http_only_when_allowed(http_server):
    http_server.routes[f"/{NAME}"] = (200, {}, CSV)
    url = f"{http_server.base}/{NAME}"
    with pytest.raises(EgressRefused, match="scheme"):
        fetch_changed_files(source(url), CREDENTIALS, InMemoryProcessedFiles())
    with fetch_changed_files(source(url, allow_http=True), CREDENTIALS, InMemoryProcessedFiles()) as result:
        assert [f.path.read_bytes() for f in result.files] == [CSV]
