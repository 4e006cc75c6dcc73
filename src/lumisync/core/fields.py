"""Model fields shared by the apps."""

from __future__ import annotations

from django.db import models

from lumisync.core import crypto


class Secret(str):
    """A decrypted secret whose repr and str-formatting in logs never show the value."""

    def __repr__(self) -> str:
        return "Secret('********')"

    @property
    def reveal(self) -> str:
        return str.__str__(self)


class EncryptedTextField(models.TextField):
    """Stores a secret encrypted with the keyring in ``lumisync.core.crypto``; empty stays empty.

    Reading gives a :class:`Secret` (a ``str``), so code that needs the value uses it as a string while a
    stray ``repr`` in a log line shows only stars.
    """

    def from_db_value(self, value, expression, connection):
        if not value:
            return ""
        return Secret(crypto.decrypt(value))

    def to_python(self, value):
        return value if isinstance(value, str) else ("" if value is None else str(value))

    def get_prep_value(self, value):
        if not value:
            return ""
        return crypto.encrypt(str.__str__(value))
