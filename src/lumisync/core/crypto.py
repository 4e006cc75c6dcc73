"""Encryption of secrets at rest.

Keys are Fernet keys kept apart from Django's SECRET_KEY: the ``LUMISYNC_ENCRYPTION_KEYS`` environment
variable (comma-separated) or the key file (one key a line). The first key encrypts; every key decrypts,
so a new key can be put first and ``lumisync rotate-keys`` re-encrypts the stored values while the old key
still reads whatever has not been rewritten yet.
"""

from __future__ import annotations

import os
import stat
import tempfile
from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

TOKEN_PREFIX = "fernet:"


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def configured_keys() -> list[str]:
    """The encryption keys, newest first, from the environment variable or else the key file."""
    if settings.LUMISYNC_ENCRYPTION_KEYS:
        raw = settings.LUMISYNC_ENCRYPTION_KEYS.split(",")
    else:
        path = Path(settings.LUMISYNC_KEY_FILE)
        if not path.exists():
            raise ImproperlyConfigured(
                f"No encryption keys: set LUMISYNC_ENCRYPTION_KEYS or create the key file {path} "
                "(`lumisync demo` writes one on first run; `lumisync rotate-keys --new-key` adds a key)."
            )
        raw = path.read_text().splitlines()
    keys = [key.strip() for key in raw if key.strip() and not key.strip().startswith("#")]
    if not keys:
        raise ImproperlyConfigured("The encryption key list is empty.")
    return keys


@cache
def _keyring(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode("ascii")) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "An encryption key is not a valid Fernet key (32 url-safe base64 bytes)."
        ) from exc


def keyring() -> MultiFernet:
    return _keyring(tuple(configured_keys()))


def encrypt(plaintext: str) -> str:
    return TOKEN_PREFIX + keyring().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    if not token.startswith(TOKEN_PREFIX):
        raise ValueError("Stored value is not an encrypted token.")
    try:
        return keyring().decrypt(token[len(TOKEN_PREFIX) :].encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with the configured keys: was a key removed before "
            "`lumisync rotate-keys` re-encrypted everything?"
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt ``token`` with the newest key."""
    return TOKEN_PREFIX + keyring().rotate(token[len(TOKEN_PREFIX) :].encode("ascii")).decode("ascii")


def write_key_file(path: Path) -> bool:
    """Create the key file with one new key unless it exists; True when a file was written."""
    if path.exists():
        return False
    _replace_key_file(path, generate_key() + "\n")
    return True


def add_key_to_file(path: Path) -> None:
    """Put a new key first in the key file, creating it if need be; the keys already there stay after it."""
    existing = path.read_text() if path.exists() else ""
    _replace_key_file(path, generate_key() + "\n" + existing)


def _replace_key_file(path: Path, text: str) -> None:
    """Make ``text`` the key file's content in one step.

    A running server reads the file for every encryption and decryption; rewritten in place, it could be
    read empty in between and every secret would fail for that moment. A complete file renamed over it
    is seen whole or not at all. A new file is readable by its owner only; a file replaced keeps the mode
    it was given (an operator may have let the server's group read it).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
