"""The memory of processed files, so none is processed twice.

A file is identified by name, size and SHA-256 together: the same content under the same name is never
handed over again, while a file re-exported under the same name with different content (a corrected export,
or an https relay that serves every night's file under one fixed name) is new and is handed over. Processing
a file twice is harmless anyway, since the sync's effects are idempotent.
"""

from __future__ import annotations

from typing import Protocol


class ProcessedFiles(Protocol):
    """Persisted by the caller; the fetcher asks ``seen`` and the caller calls ``remember`` once a file has
    been processed, so a file whose processing failed is offered again the next night."""

    def seen(self, name: str, size: int, sha256: str) -> bool: ...

    def skipped(self, name: str) -> bool:
        """An operator passed this dated file over unread: a folder listing neither hands it over nor waits
        for its manifest (a single https URL serves one name every night, so it never asks)."""
        ...

    def remember(self, name: str, size: int, sha256: str) -> None: ...


class InMemoryProcessedFiles:
    """``ProcessedFiles`` held in memory, for tests and one-off runs."""

    def __init__(self) -> None:
        self._files: set[tuple[str, int, str]] = set()
        self._skipped: set[str] = set()

    def seen(self, name: str, size: int, sha256: str) -> bool:
        return (name, size, sha256) in self._files

    def skipped(self, name: str) -> bool:
        return name in self._skipped

    def skip(self, name: str) -> None:
        self._skipped.add(name)

    def remember(self, name: str, size: int, sha256: str) -> None:
        self._files.add((name, size, sha256))

    def __len__(self) -> int:
        return len(self._files)
