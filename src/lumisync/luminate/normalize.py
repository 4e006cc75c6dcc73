"""The one place where Luminate's JSON becomes plain Python values.

Luminate's JSON is a mechanical translation of its XML, so (see docs/luminate-quirks.md):

* every scalar is a string (``"1001172"``, ``"true"``, ``"50"``);
* a list of one item arrives as a bare object, and an empty list as a missing key or as ``{}``;
* empty text may arrive as ``{}``; ``null`` means "visible but empty" and a missing key "hidden";
* dates look like ``1980-05-04-05:00`` (a date with a UTC offset);
* custom fields are grouped by type: ``"custom": {"boolean": [{"id": "custom_boolean3", "content": "true"}]}``.

Every function here accepts both the quirky and the plain form (a real JSON number or boolean, a real
list), so callers see the same values whichever way a site answers.

A constituent becomes one flat dict whose keys are the field names Luminate's create/update methods
take: nested objects are joined with dots (``name.first``, ``primary_address.city``), the email is
``primary_email``, and each custom field is keyed by its id (``custom_boolean50``). Values are ``str``
(ids included: ``cons_id`` is always a string), ``bool`` for booleans, ``datetime.date`` for ``*_date``
fields, ``datetime.datetime`` for ``*_time`` fields, and ``None`` for empty ones. A key is absent when
Luminate left it out (the field is disabled or hidden from the API login).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Any

from lumisync.luminate.errors import MalformedRecord

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})

_DATE_RE = re.compile(
    r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})"
    r"(?:[T ](?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?"
)

# Field names whose kind cannot be told from the name alone.
_KNOWN_KINDS = {
    "cons_id": "text",
    "member_id": "text",
    "email.accepts_email": "boolean",
    "accepts_postal_mail": "boolean",
}
_EMAIL_KEYS = frozenset({"email.primary_address", "primary_email"})
_VALUE_TYPE_KINDS = {"BOOLEAN": "boolean", "DATE": "date", "DATETIME": "datetime"}


def as_list(value: Any) -> list[Any]:
    """Undo the 0/1/n collapse: missing, ``null`` or ``{}`` is ``[]``; a bare object is ``[object]``."""
    if value is None or value == {} or value == "":
        return []
    if isinstance(value, list):
        return [item for item in value if item is not None and item != {}]
    return [value]


def text(value: Any) -> str | None:
    """A scalar as ``str``; ``null``, ``{}`` and ``""`` (empty text, in any of its forms) as ``None``."""
    # Nearly every value Luminate sends is a string: answer those before any other comparison.
    if type(value) is str:
        return value or None
    if value is None or value == {} or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise TypeError(f"expected a scalar, got {type(value).__name__}: {value!r}")


def boolean(value: Any) -> bool | None:
    """``"true"``/``"false"`` (and the other spellings Luminate's imports accept) as ``bool``."""
    raw = text(value)
    if raw is None:
        return None
    folded = raw.strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ValueError(f"{raw!r} is not a boolean")


def integer(value: Any) -> int | None:
    raw = text(value)
    return None if raw is None else int(raw)


# A site writes its dates with one or two offsets; a timezone is built once for each.
@functools.lru_cache(maxsize=256)
def _offset(tz: str | None) -> dt.tzinfo | None:
    if tz is None:
        return None
    if tz == "Z":
        return dt.UTC
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 14 or minutes > 59:
        raise ValueError(f"{tz!r} is not a UTC offset")
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def datetime(value: Any) -> dt.datetime | None:
    """A Luminate date or date-time as ``datetime``; a bare date means its midnight.

    Accepts ISO 8601 (``2024-03-01T23:02:40.123-05:00``, ``...Z``, space instead of ``T``) and Luminate's
    DATE form ``2024-03-01-05:00``. A value without an offset stays naive: the client does not invent
    a time zone for it.
    """
    raw = text(value)
    if raw is None:
        return None
    match = _DATE_RE.fullmatch(raw.strip())
    if not match:
        raise ValueError(f"{raw!r} is not a date")
    parts = match.groupdict()
    fraction = (parts["f"] or "0")[:6].ljust(6, "0")
    return dt.datetime(
        int(parts["y"]),
        int(parts["m"]),
        int(parts["d"]),
        int(parts["H"] or 0),
        int(parts["M"] or 0),
        int(parts["S"] or 0),
        int(fraction),
        tzinfo=_offset(parts["tz"]),
    )


def date(value: Any) -> dt.date | None:
    """A Luminate DATE (``1980-05-04-05:00``) as ``date``: the calendar date written, offset dropped."""
    moment = datetime(value)
    return None if moment is None else moment.date()


_CONVERTERS = {"text": text, "boolean": boolean, "date": date, "datetime": datetime}


def field_kind(name: str, field_types: Mapping[str, str] | None = None) -> str:
    """How to read field ``name``: ``text``, ``boolean``, ``date`` or ``datetime``.

    ``field_types`` maps field names to listUserFields ``valueType`` values and wins over the naming
    conventions (``custom_boolean12``, ``birth_date``, ``modify_time``).
    """
    if field_types and name in field_types:
        return _VALUE_TYPE_KINDS.get(field_types[name].upper(), "text")
    return _kind_by_name(name)


# Every record repeats the same field names, so each is read once; the bound only guards memory.
@functools.lru_cache(maxsize=4096)
def _kind_by_name(name: str) -> str:
    if name in _KNOWN_KINDS:
        return _KNOWN_KINDS[name]
    leaf = name.rsplit(".", 1)[-1]
    if leaf.startswith("custom_boolean"):
        return "boolean"
    if leaf.startswith("custom_date") or leaf.endswith("_date"):
        return "date"
    if leaf.endswith("_time"):
        return "datetime"
    return "text"


def _flatten(node: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in node.items():
        name = f"{prefix}.{key}" if prefix else key
        # Most leaves are strings or null: settle them before the slower check against the Mapping ABC.
        if type(value) is str or value is None:
            out[name] = value
        elif isinstance(value, Mapping) and value:
            _flatten(value, name, out)
        elif isinstance(value, list):
            out[name] = [plain(item) if isinstance(item, Mapping) else text(item) for item in value]
        else:
            out[name] = None if value == {} else value


def flatten(node: Mapping[str, Any]) -> dict[str, Any]:
    """A nested Luminate object as one flat dict with dotted keys; leaves stay raw (see :func:`text`).

    A composite that is ``null`` or ``{}`` (all its children empty or disabled) keeps its own key with
    the value ``None``.
    """
    out: dict[str, Any] = {}
    _flatten(node, "", out)
    return out


def plain(node: Mapping[str, Any]) -> dict[str, Any]:
    """A nested Luminate object flattened, every leaf as ``str`` or ``None`` (lists as lists)."""
    return {key: value if isinstance(value, list) else text(value) for key, value in flatten(node).items()}


def constituent(raw: Mapping[str, Any], field_types: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A ``getConsResponse`` payload as the flat constituent dict described in this module's docstring.

    Raises :class:`MalformedRecord` naming the constituent, the field and the value when a boolean or a
    date cannot be read.
    """
    cons_id = text(raw.get("cons_id"))
    body = {key: value for key, value in raw.items() if key != "custom"}
    leaves = flatten(body)
    # A custom field's group names its kind when the group is boolean or date; None leaves it to the name.
    custom_kinds: dict[str, str | None] = {}
    for group, items in (raw.get("custom") or {}).items():
        for item in as_list(items):
            name = text(item.get("id")) if isinstance(item, Mapping) else None
            if name is None:
                raise MalformedRecord(
                    f"Luminate returned constituent {cons_id} with a custom {group} field that has no id: {item!r}",
                    method="getUser",
                )
            custom_kinds[name] = group if group in ("boolean", "date") else None
            leaves[name] = item.get("content")
    record: dict[str, Any] = {}
    for name, value in leaves.items():
        key = "primary_email" if name in _EMAIL_KEYS else name
        kind = custom_kinds.get(name) or field_kind(key, field_types)
        if isinstance(value, list):
            record[key] = value
            continue
        try:
            record[key] = _CONVERTERS[kind](value)
        except (ValueError, TypeError) as exc:
            raise MalformedRecord(
                f"Luminate returned constituent {cons_id} with field {key} = {value!r}, which is not a {kind}",
                method="getUser",
            ) from exc
    return record
