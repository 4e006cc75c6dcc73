"""Heading normalisation and the alias table of luminate-api.md §11.2.

Luminate writes DB-style headings (``CONS_ID``) or report labels (``Constituent ID``); both, in any case and
spacing, normalise to the same key, so an operator's configured "CSV Heading" matches whichever style the
site's export uses.
"""

from __future__ import annotations

import functools
import re

_SEPARATORS = re.compile(r"[\s_\-]+")

CONS_ID = "cons_id"

# Canonical field -> every accepted heading, already in normalised form.
ALIASES: dict[str, tuple[str, ...]] = {
    CONS_ID: ("cons_id", "constituent_id", "contact_id"),
    "member_id": ("member_id",),
    "primary_email": ("primary_email", "email"),
    "first_name": ("first_name",),
    "last_name": ("last_name",),
    "mobile_phone": ("mobile_phone", "phone"),
    "modify_time": ("modify_date", "modification_time", "modify_time"),
    "creation_time": ("creation_date", "creation_time"),
}

TIMESTAMP_FIELDS = ("modify_time", "creation_time")

_CANONICAL: dict[str, str] = {alias: field for field, aliases in ALIASES.items() for alias in aliases}


def normalise_heading(heading: str) -> str:
    """Trim, drop any BOM, lower-case, and fold runs of spaces, ``_`` and ``-`` into one ``_``."""
    return _SEPARATORS.sub("_", heading.replace("\ufeff", "").strip().lower()).strip("_")


@functools.lru_cache(maxsize=4096)
def column_key(heading: str) -> str:
    """The key a column is stored under: its canonical field when the alias table knows it, else its
    normalised heading."""
    normalised = normalise_heading(heading)
    return _CANONICAL.get(normalised, normalised)
