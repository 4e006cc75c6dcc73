"""Model fields shared by the apps."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
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


class JSONField(models.JSONField):
    """Django's JSONField, reading its values with orjson, and writing them with it on SQLite (PostgreSQL
    keeps Django's adapter): a tenth of the time of the standard library's ``json`` for the sync's
    high-volume columns (chunks, report rows' changes, link snapshots).

    What orjson would read or write otherwise than ``json`` is left to ``json``: an integer beyond 64 bits
    (orjson reads it as a float), a bare ``NaN`` in stored text, a key that is not a string, a date
    (refused, as Django refuses it). What still differs: a float NaN or infinity, which is not JSON
    (PostgreSQL refuses it, ``json`` writes a bare word), is written as null; a UUID or a plain ``Enum``
    member, which Django refuses, is written as orjson writes it; and the text stored on SQLite has no
    spaces and keeps non-ASCII characters as they are, so it is not the text Django would write: compare
    these columns by key (``changes__email``), never as a whole in SQL.
    """

    def deconstruct(self):
        # Stored exactly as Django's own: to migrations it is one, and switching a column to it (or back)
        # rewrites no table.
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs

    def from_db_value(self, value, expression, connection):
        if isinstance(value, str) and self.decoder is None and not _LONG_NUMBER.search(value):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
        return super().from_db_value(value, expression, connection)

    def get_db_prep_value(self, value, connection, prepared=False):
        if connection.vendor != "sqlite" or self.encoder is not None:
            return super().get_db_prep_value(value, connection, prepared)
        if not prepared:
            value = self.get_prep_value(value)
        return json_text(value)


# Where an integer orjson would read as a float may be (19 digits or more in a row, in a string or not).
_LONG_NUMBER = re.compile(r"\d{19}")

# Dates and dataclasses are handed back, and keys that are not strings refused, so that json writes or
# refuses them as Django does.
_AS_JSON_WOULD = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_text(value: Any) -> str:
    """``value`` as Django's JSONField writes it on SQLite (``json.dumps``), through orjson where it can."""
    try:
        return orjson.dumps(value, option=_AS_JSON_WOULD).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)
