"""Fetching the changed-records files over FTP, explicit FTPS or HTTPS.

Every file is downloaded to a temporary file and handed over only once complete: the transfer ended without
an error and its size matches the size the server announced (SIZE/MLSD, or Content-Length). A broken
transfer raises ``TransferCut`` and hands over nothing, so the run fails and the next run tries again.

Certificates are checked against the system CAs, or against ``ca_file`` alone when it is set. With
``fingerprint`` the operator pins the server's certificate instead (SHA-256 of its DER form, hex with or
without colons): any other certificate is refused, on the control and on every data connection, whoever
signed it.
"""

from __future__ import annotations

import ftplib
import hashlib
import re
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from lumisync.luminate.egress import Target, check_url

from .errors import (
    CertificateMismatch,
    ConnectFailed,
    FetchError,
    FileMissing,
    LoginRefused,
    RedirectRefused,
    TLSRefused,
    TransferCut,
)
from .pattern import DEFAULT_PATTERN, FilePattern
from .processed import ProcessedFiles

_REDACTED = "********"


@dataclass(frozen=True)
class Credentials:
    """The Data Sync user name and password; the password never shows in a repr."""

    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password={_REDACTED!r})"


@dataclass(frozen=True)
class FileSource:
    """Where the integration's changed files are, and how to reach them.

    ``url`` is ``ftp://host[:port]/folder/``, ``ftps://host[:port]/folder/`` (explicit TLS) or
    ``https://host/path/file.csv`` (one relayed file). For FTP the path is the folder, relative to the
    login folder; a last path segment holding a ``{token}`` is taken as the file name pattern. ``http://``
    is accepted only with ``allow_http`` (tests on loopback), private hosts only with ``allow_private``.
    """

    url: str
    pattern: str = DEFAULT_PATTERN
    org: str = ""
    manifest: bool = False
    ca_file: str | None = None
    fingerprint: str | None = None
    allow_http: bool = False
    allow_private: bool = False
    timeout: float = 60.0


@dataclass(frozen=True)
class FetchedFile:
    """A complete download, ready to read; ``name`` is the server's file name, ``path`` the local copy."""

    name: str
    path: Path
    size: int
    sha256: str
    date: date | None


@dataclass
class FetchResult:
    """The unprocessed files, oldest first, plus what was passed over and why.

    ``not_ready`` names the oldest file still waiting for its manifest, and ``held_back`` the newer files
    left behind it, unread, until it is ready. The local copies live in ``directory`` until ``close()``
    (or the end of a ``with`` block).
    """

    host: str
    directory: Path
    files: list[FetchedFile] = field(default_factory=list)
    not_ready: list[str] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)
    already_processed: list[str] = field(default_factory=list)

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> FetchResult:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def fetch_changed_files(
    source: FileSource,
    credentials: Credentials | None,
    processed: ProcessedFiles,
    *,
    workdir: str | Path | None = None,
    since: date | None = None,
) -> FetchResult:
    """Download every changed file not processed yet, oldest first (by the date in its name).

    Files dated before ``since`` are not looked at, which spares downloading a long history of old files
    only to find their checksums already remembered. When ``source.manifest`` is set, a file without its
    manifest (``name.manifest`` or ``name.csv.manifest``) is not ready: it is listed in ``not_ready`` and
    left for a later run, and so is every newer file (``held_back``), so that files are always processed
    in date order. Call ``processed.remember(...)`` for each file once it has been processed.
    """
    if urlsplit(source.url.strip()).password is not None:
        raise ValueError(
            "The file URL contains a password: remove it from the URL and enter it in the password field."
        )
    schemes = ("ftp", "ftps", "https", "http") if source.allow_http else ("ftp", "ftps", "https")
    target = check_url(source.url, schemes=schemes, allow_private=source.allow_private)
    directory = Path(tempfile.mkdtemp(prefix="lumisync-changed-", dir=workdir))
    result = FetchResult(host=target.host, directory=directory)
    try:
        if target.scheme in ("ftp", "ftps"):
            _fetch_ftp(source, target, credentials, processed, since, result)
        else:
            _fetch_http(source, target, credentials, processed, result)
    except BaseException:
        result.close()
        raise
    return result


# FTP and FTPS


class _FTPS(ftplib.FTP_TLS):
    """FTP_TLS resuming the control connection's TLS session on the data connections, as servers that
    require session reuse expect."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            try:
                conn = self.context.wrap_socket(
                    conn, server_hostname=self.host, session=getattr(self.sock, "session", None)
                )
            except BaseException:
                conn.close()
                raise
        return conn, size


def _fetch_ftp(
    source: FileSource,
    target: Target,
    credentials: Credentials | None,
    processed: ProcessedFiles,
    since: date | None,
    result: FetchResult,
) -> None:
    folders = [unquote(part) for part in target.path.split("/") if part]
    pattern_text = folders.pop() if folders and "{" in folders[-1] else source.pattern
    pattern = FilePattern(pattern_text, org=source.org)
    secret = credentials.password if credentials else None
    ftp = _ftp_login(source, target, credentials)
    try:
        for folder in folders:
            try:
                ftp.cwd(folder)
            except ftplib.error_perm as exc:
                raise FileMissing(
                    f"The folder {'/'.join(folders)!r} is not on {target.host} ({_reply(exc, secret)}); "
                    "check the folder in the file URL.",
                    host=target.host,
                ) from None
        listing = _list_folder(ftp, target.host, secret)
        dated = sorted(
            (file_date, name)
            for name in listing
            if (file_date := pattern.date_of(name)) is not None and (since is None or file_date >= since)
        )
        for index, (file_date, name) in enumerate(dated):
            if processed.skipped(name):
                result.already_processed.append(name)
                continue
            if source.manifest and not any(marker in listing for marker in _manifest_names(name)):
                # An older file's changes applied after a newer file's would undo the newer ones, so
                # nothing newer is handed over until this file is ready.
                result.not_ready.append(name)
                result.held_back.extend(newer for _, newer in dated[index + 1 :])
                break
            local, size, digest = _download_ftp(
                ftp, name, listing[name], result.directory, index, target, secret
            )
            _hand_over(result, processed, FetchedFile(name, local, size, digest, file_date))
    finally:
        _close_ftp(ftp)


def _ftp_login(source: FileSource, target: Target, credentials: Credentials | None) -> ftplib.FTP:
    host = target.host
    port = target.port or 21
    secret = credentials.password if credentials else None
    if target.scheme == "ftps":
        ftp: ftplib.FTP = _FTPS(context=_tls_context(source), timeout=source.timeout)
    else:
        ftp = ftplib.FTP(timeout=source.timeout)
    try:
        ftp.connect(host, port)
    except (OSError, EOFError, ftplib.Error) as exc:
        raise ConnectFailed(
            f"Could not connect to the FTP server {host}:{port} ({_describe(exc, secret)}); check the host and "
            "port in the file URL and that the server lets this machine in.",
            host=host,
        ) from None
    try:
        if isinstance(ftp, _FTPS):
            _ftp_start_tls(ftp, host, secret)
        user = credentials.username if credentials else "anonymous"
        try:
            ftp.login(user, credentials.password if credentials else "")
        except ftplib.error_perm as exc:
            raise LoginRefused(
                f"The FTP server {host} refused the login of user {user!r} ({_reply(exc, secret)}); check the "
                "Data Sync user name and password.",
                host=host,
            ) from None
        if isinstance(ftp, _FTPS):
            try:
                ftp.prot_p()
            except ftplib.Error as exc:
                raise TLSRefused(
                    f"The FTP server {host} refused to protect the data connection with TLS (PROT P: "
                    f"{_reply(exc, secret)}).",
                    host=host,
                ) from None
        ftp.voidcmd("TYPE I")
    except BaseException:
        _close_ftp(ftp)
        raise
    return ftp


def _ftp_start_tls(ftp: _FTPS, host: str, secret: str | None) -> None:
    try:
        ftp.auth()
    except ssl.SSLCertVerificationError as exc:
        raise CertificateMismatch(
            f"The certificate of the FTPS server {host} is not trusted ({exc.verify_message}); give the "
            "CA file that signed it, or pin its SHA-256 fingerprint.",
            host=host,
        ) from None
    except ssl.SSLError as exc:
        raise TLSRefused(
            f"The TLS handshake with the FTPS server {host} failed ({exc.reason or exc}); check that the "
            "server offers explicit FTPS (AUTH TLS).",
            host=host,
        ) from None
    except ftplib.Error as exc:
        raise TLSRefused(
            f"The FTP server {host} does not accept AUTH TLS ({_reply(exc, secret)}); Luminate's server "
            "offers explicit FTPS on port 21. Use an ftp:// URL only if the server has no TLS at all.",
            host=host,
        ) from None
    except OSError as exc:
        raise TLSRefused(
            f"The FTPS server {host} closed the connection during the TLS handshake ({_describe(exc, secret)}).",
            host=host,
        ) from None


def _list_folder(ftp: ftplib.FTP, host: str, secret: str | None) -> dict[str, int | None]:
    """File name -> size in bytes (``None`` when the server will not say)."""
    try:
        return {
            name: int(facts["size"]) if "size" in facts else None
            for name, facts in ftp.mlsd(facts=["type", "size"])
            if facts.get("type", "file") == "file"
        }
    except ftplib.error_perm:
        pass  # A server without MLSD: fall back to NLST and SIZE.
    except (OSError, EOFError, ftplib.Error) as exc:
        raise TransferCut(
            f"Listing the folder on {host} failed ({_describe(exc, secret)}).", host=host
        ) from None
    try:
        names = [PurePosixPath(entry).name for entry in ftp.nlst()]
    except ftplib.error_perm as exc:
        if str(exc).startswith("550"):
            return {}
        raise FileMissing(f"{host} refused to list the folder ({_reply(exc, secret)}).", host=host) from None
    except (OSError, EOFError, ftplib.Error) as exc:
        raise TransferCut(
            f"Listing the folder on {host} failed ({_describe(exc, secret)}).", host=host
        ) from None
    sizes: dict[str, int | None] = {}
    for name in names:
        try:
            sizes[name] = ftp.size(name)
        except ftplib.error_perm:
            sizes[name] = None
    return sizes


def _manifest_names(name: str) -> tuple[str, ...]:
    """The names a file's readiness marker may have: Luminate's own convention puts an empty
    ``name.manifest`` beside ``name.csv`` (luminate-api.md §11.1); some relays write ``name.csv.manifest``."""
    stem = name.rsplit(".", 1)[0]
    return tuple(dict.fromkeys((f"{stem}.manifest", f"{name}.manifest")))


def _download_ftp(
    ftp: ftplib.FTP,
    name: str,
    expected: int | None,
    directory: Path,
    index: int,
    target: Target,
    secret: str | None,
) -> tuple[Path, int, str]:
    part = directory / f"{index:04d}.part"
    digest = hashlib.sha256()
    size = 0
    with part.open("wb") as out:

        def write(block: bytes) -> None:
            nonlocal size
            out.write(block)
            digest.update(block)
            size += len(block)

        try:
            ftp.retrbinary(f"RETR {name}", write)
        except ftplib.error_perm as exc:
            if str(exc).startswith("550"):
                raise FileMissing(
                    f"{name} is no longer on {target.host} ({_reply(exc, secret)}).", host=target.host
                ) from None
            raise TransferCut(
                f"Downloading {name} from {target.host} failed ({_reply(exc, secret)}); nothing was read.",
                host=target.host,
            ) from None
        except (OSError, EOFError, ftplib.Error) as exc:
            raise TransferCut(
                f"The transfer of {name} from {target.host} was cut after {size} bytes "
                f"({_describe(exc, secret)}); nothing was read, the next run tries again.",
                host=target.host,
            ) from None
    _check_size(name, size, expected, target.host)
    return _finish(part, name, index), size, digest.hexdigest()


def _close_ftp(ftp: ftplib.FTP) -> None:
    try:
        ftp.quit()
    except (OSError, EOFError, ftplib.Error):
        ftp.close()


# HTTPS


def _fetch_http(
    source: FileSource,
    target: Target,
    credentials: Credentials | None,
    processed: ProcessedFiles,
    result: FetchResult,
) -> None:
    name = unquote(PurePosixPath(target.path).name)
    if not name:
        raise ValueError(f"The file URL {source.url!r} names no file; give the URL of the file itself.")
    pattern = FilePattern(source.pattern, org=source.org)
    host = target.host
    secret = credentials.password if credentials else None
    url = source.url.strip()
    client = httpx.Client(
        verify=_tls_context(source) if target.scheme == "https" else False,
        follow_redirects=False,
        trust_env=False,
        timeout=source.timeout,
        auth=(credentials.username, credentials.password) if credentials else None,
        headers={"Accept-Encoding": "identity"},
    )
    with client:
        if source.manifest and not _http_manifest_present(client, url, host, secret):
            result.not_ready.append(name)
            return
        with _get(client, url, host, secret) as response:
            _check_status(response, name, host)
            announced = response.headers.get("Content-Length")
            expected = int(announced) if announced and announced.isdigit() else None
            part = result.directory / "0000.part"
            digest = hashlib.sha256()
            try:
                with part.open("wb") as out:
                    for block in response.iter_bytes():
                        out.write(block)
                        digest.update(block)
            except httpx.HTTPError as exc:
                raise TransferCut(
                    f"The transfer of {name} from {host} was cut after {response.num_bytes_downloaded} bytes "
                    f"({_describe(exc, secret)}); nothing was read, the next run tries again.",
                    host=host,
                ) from None
            size = response.num_bytes_downloaded
            _check_size(name, size, expected, host)
    local = _finish(part, name, 0)
    _hand_over(result, processed, FetchedFile(name, local, size, digest.hexdigest(), pattern.date_of(name)))


def _http_manifest_present(client: httpx.Client, url: str, host: str, secret: str | None) -> bool:
    """Whether either manifest name answers 200 beside the file at ``url``; 404 or 410 for both means
    the file is not ready yet, any other answer is an error."""
    parts = urlsplit(url)
    folder, _, file_name = parts.path.rpartition("/")
    for marker in _manifest_names(file_name):
        with _get(client, urlunsplit(parts._replace(path=f"{folder}/{marker}")), host, secret) as response:
            if response.status_code not in (404, 410):
                _check_status(response, unquote(marker), host)
                return True
    return False


@contextmanager
def _get(client: httpx.Client, url: str, host: str, secret: str | None) -> Iterator[httpx.Response]:
    """A streamed GET whose connection errors become typed errors (the caller handles errors while
    reading the body itself)."""
    try:
        with client.stream("GET", url) as response:
            yield response
    except httpx.ConnectError as exc:
        cause = _ssl_cause(exc)
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise CertificateMismatch(
                f"The certificate of {host} is not trusted ({cause.verify_message}); give the CA file "
                "that signed it, or pin its SHA-256 fingerprint.",
                host=host,
            ) from None
        if isinstance(cause, ssl.SSLError):
            raise TLSRefused(
                f"The TLS handshake with {host} failed ({cause.reason or cause}).", host=host
            ) from None
        raise ConnectFailed(
            f"Could not connect to {host} ({_describe(exc, secret)}); check the file URL.", host=host
        ) from None
    except httpx.TimeoutException as exc:
        raise ConnectFailed(f"{host} did not answer in time ({type(exc).__name__}).", host=host) from None
    except httpx.HTTPError as exc:
        raise TransferCut(f"The request to {host} failed ({_describe(exc, secret)}).", host=host) from None


def _ssl_cause(exc: BaseException) -> BaseException | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _check_status(response: httpx.Response, name: str, host: str) -> None:
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("Location", "(no Location)")
        raise RedirectRefused(
            f"{host} answered {name} with a redirect ({status}) to {location}; redirects are not followed. "
            "Enter the final URL of the file.",
            host=host,
        )
    if status in (401, 403):
        raise LoginRefused(
            f"{host} refused access to {name} ({status}); check the user name and password.", host=host
        )
    if status in (404, 410):
        raise FileMissing(f"{name} is not on {host} ({status}); check the file URL.", host=host)
    if status != 200:
        raise FetchError(f"{host} answered {status} for {name}; try again later.", host=host)


# Shared


def _tls_context(source: FileSource) -> ssl.SSLContext:
    fingerprint = _normalise_fingerprint(source.fingerprint)
    if fingerprint is not None:
        context = _PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.fingerprint = fingerprint
        return context
    return ssl.create_default_context(cafile=source.ca_file)


class _PinnedContext(ssl.SSLContext):
    """Checks the pin right after each handshake, inside ``wrap_socket``, so nothing (no FTP login, no HTTP
    request with its credentials) is ever sent to a server whose certificate does not match; ftplib and
    httpx both open every TLS connection, control and data alike, through this method."""

    fingerprint: str

    def wrap_socket(self, *args, **kwargs):
        sock = super().wrap_socket(*args, **kwargs)
        try:
            _check_pin(sock, self.fingerprint, kwargs.get("server_hostname") or "the server")
        except CertificateMismatch:
            sock.close()
            raise
        return sock


def _normalise_fingerprint(fingerprint: str | None) -> str | None:
    if not fingerprint:
        return None
    digits = re.sub(r"[\s:]", "", fingerprint).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digits):
        raise ValueError(
            f"The certificate fingerprint {fingerprint!r} is not a SHA-256 fingerprint (64 hex digits)."
        )
    return digits


def certificate_fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate, as ``AB:CD:...`` (the form ``openssl x509 -fingerprint
    -sha256`` prints, which an operator can paste as the pin)."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def _check_pin(sock: ssl.SSLSocket, fingerprint: str, host: str) -> None:
    der = sock.getpeercert(True)
    if not der:
        raise CertificateMismatch(f"{host} presented no certificate.", host=host)
    actual = hashlib.sha256(der).hexdigest()
    if actual != fingerprint:
        raise CertificateMismatch(
            f"The certificate of {host} has the SHA-256 fingerprint "
            f"{certificate_fingerprint(der)}, not the pinned one; if the server's certificate was renewed, "
            "update the pinned fingerprint.",
            host=host,
        )


def _check_size(name: str, size: int, expected: int | None, host: str) -> None:
    if expected is not None and size != expected:
        raise TransferCut(
            f"The transfer of {name} from {host} ended after {size} of {expected} bytes; nothing was read, "
            "the next run tries again.",
            host=host,
        )


def _finish(part: Path, name: str, index: int) -> Path:
    # The local name keeps the server's name readable but cannot leave the directory.
    final = part.with_name(f"{index:04d}-{re.sub(r'[^A-Za-z0-9._-]', '_', name)}")
    part.rename(final)
    return final


def _hand_over(result: FetchResult, processed: ProcessedFiles, fetched: FetchedFile) -> None:
    if processed.seen(fetched.name, fetched.size, fetched.sha256):
        fetched.path.unlink()
        result.already_processed.append(fetched.name)
    else:
        result.files.append(fetched)


def _reply(exc: BaseException, secret: str | None) -> str:
    return _scrub(str(exc).strip(), secret) or type(exc).__name__


def _describe(exc: BaseException, secret: str | None) -> str:
    text = _scrub(str(exc).strip(), secret)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _scrub(text: str, secret: str | None) -> str:
    # A server may echo what it was sent; the password must not reach a log through its reply.
    return text.replace(secret, _REDACTED) if secret else text
