"""Typed errors of the changed-records file: each message names the host or file and the fix."""

from __future__ import annotations


class ChangedFileError(Exception):
    """Base of every error raised while fetching or reading a changed-records file."""


class FetchError(ChangedFileError):
    """The file could not be fetched; ``host`` names the server."""

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message)
        self.host = host


class ConnectFailed(FetchError):
    """No connection to the server (wrong host or port, firewall, timeout)."""


class LoginRefused(FetchError):
    """The server refused the user name and password."""


class TLSRefused(FetchError):
    """The server does not offer TLS, or the TLS handshake failed for a reason other than the certificate."""


class CertificateMismatch(FetchError):
    """The server's certificate is not trusted, or does not match the pinned fingerprint."""


class FileMissing(FetchError):
    """The file or folder named by the integration is not on the server."""


class TransferCut(FetchError):
    """The transfer ended early or failed; nothing of the file is handed over."""


class RedirectRefused(FetchError):
    """The https server answered with a redirect; redirects are never followed."""


class BadFile(ChangedFileError):
    """The file as a whole cannot be read (no constituent ID column, clashing headings, undecodable)."""

    def __init__(self, message: str, *, file: str) -> None:
        super().__init__(message)
        self.file = file


class UndecodableFile(BadFile):
    """The file's bytes are not valid in the configured or any detected encoding."""


class UnknownHeading(ChangedFileError):
    """A configured CSV heading is not in the file, or is in it more than once."""
