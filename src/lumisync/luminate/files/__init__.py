"""The nightly changed-records file: fetch it (FTP, explicit FTPS, HTTPS) and read it as a stream of rows."""

from .errors import (
    BadFile,
    CertificateMismatch,
    ChangedFileError,
    ConnectFailed,
    FetchError,
    FileMissing,
    LoginRefused,
    RedirectRefused,
    TLSRefused,
    TransferCut,
    UndecodableFile,
    UnknownHeading,
)
from .fetch import (
    Credentials,
    FetchedFile,
    FetchResult,
    FileSource,
    certificate_fingerprint,
    fetch_changed_files,
)
from .headings import ALIASES, column_key, normalise_heading
from .pattern import DEFAULT_PATTERN, FilePattern
from .processed import InMemoryProcessedFiles, ProcessedFiles
from .reader import BadRow, ChangedFileReader, ConstituentIds, Row, collect_constituent_ids, scan
from .timestamps import parse_timestamp

__all__ = [
    "ALIASES",
    "DEFAULT_PATTERN",
    "BadFile",
    "BadRow",
    "CertificateMismatch",
    "ChangedFileError",
    "ChangedFileReader",
    "ConnectFailed",
    "ConstituentIds",
    "Credentials",
    "FetchError",
    "FetchResult",
    "FetchedFile",
    "FilePattern",
    "FileMissing",
    "FileSource",
    "InMemoryProcessedFiles",
    "LoginRefused",
    "ProcessedFiles",
    "RedirectRefused",
    "Row",
    "TLSRefused",
    "TransferCut",
    "UndecodableFile",
    "UnknownHeading",
    "certificate_fingerprint",
    "collect_constituent_ids",
    "column_key",
    "fetch_changed_files",
    "normalise_heading",
    "parse_timestamp",
    "scan",
]
