"""From a Luminate record (API or file row) to the policy's :class:`Incoming`, by the field mappings.

In two steps: the mappings pick a record's :class:`Values` (plain texts), and :func:`read` turns them into
an :class:`Incoming` (the mobile number parsed, the email checked). Reading is most of the cost and needs
nothing but the values and the region, so file mode keeps the values in its chunks and reads them later,
possibly in another process (this module imports no Django models, for that).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lumisync.datasync.engine.policy import PROFILE_FIELDS, Incoming, quoted
from lumisync.luminate.files import Row, column_key
from lumisync.subscribers.emails import normalize_email
from lumisync.subscribers.phones import InvalidPhoneNumber, Mobile, NotAMobileNumber, read_mobile

_TRUE = frozenset({"true", "t", "yes", "y", "1"})


@dataclass(frozen=True)
class Column:
    """One mapped field: our attribute, its Luminate API name and its CSV heading (may be empty)."""

    attribute: str
    api_name: str
    csv_heading: str


@dataclass(frozen=True)
class MappingPlan:
    """The integration's mappings, reduced to what reading one record needs."""

    opt_in: Column
    phone: Column
    constituent_id: Column
    profile: tuple[Column, ...]
    donation: tuple[Column, ...]
    required: frozenset[str]
    region: str

    def api_fields(self) -> list[str]:
        """The ``fields`` to ask getUser for (plus the modify time the policy compares)."""
        names = [self.constituent_id.api_name, self.phone.api_name, self.opt_in.api_name, "modify_time"]
        names += [column.api_name for column in self.profile]
        return [name for name in dict.fromkeys(names) if name]

    def file_has_every_value(self, headings: Iterable[str]) -> bool:
        """Whether a file with these headings carries every mapped constituent value (file mode)."""
        present = {column_key(heading) for heading in headings}
        needed = [self.constituent_id, self.phone, self.opt_in, *self.profile]
        return all(column.csv_heading and column_key(column.csv_heading) in present for column in needed)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return _text(value).lower() in _TRUE


def _phone(raw: str, region: str) -> tuple[Mobile | None, str | None]:
    if not raw:
        return None, None
    try:
        return read_mobile(raw, region), None
    except NotAMobileNumber:
        return None, f"The mobile number {raw!r} is a fixed line or cannot receive texts."
    except InvalidPhoneNumber:
        return None, f"The mobile number {raw!r} is not a valid number for region {region}."


def _email(raw: str) -> tuple[str, str | None]:
    try:
        return normalize_email(raw), None
    except ValueError:
        # The value is not written anywhere, so the reason is the only place that can show it.
        return "", f"The email address {quoted(raw)} is not valid (email is required)."


def constituent_id(raw: str) -> str:
    """The one form of a constituent ID: Luminate's IDs are numbers, so a file's '001000101' and getUser's
    '1000101' must name the same link, snapshot and report row."""
    value = raw.strip()
    if value.isascii() and value.isdigit():
        return value.lstrip("0") or "0"
    return value


@dataclass(frozen=True)
class Values:
    """A record's mapped values as Luminate wrote them: each profile field's text (email included), the raw
    mobile number and the opt-in."""

    cons_id: str
    fields: dict[str, str]
    phone_raw: str
    opted_in: bool
    modified_at: datetime | None = None


def _values(plan: MappingPlan, cons_id: str, get, modified_at: datetime | None) -> Values:
    fields = {column.attribute: _text(get(column)) for column in plan.profile}
    for name in PROFILE_FIELDS:
        fields.setdefault(name, "")
    return Values(
        cons_id=constituent_id(cons_id),
        fields=fields,
        phone_raw=_text(get(plan.phone)),
        opted_in=_boolean(get(plan.opt_in)),
        modified_at=modified_at,
    )


def read(values: Values, region: str, centers: Iterable[str] = ()) -> Incoming:
    """``values`` as the policy sees them: the mobile number in E.164 for ``region`` and the email in its
    one form, or why either is unusable."""
    fields = dict(values.fields)
    fields["email"], email_problem = _email(fields["email"])
    mobile, problem = _phone(values.phone_raw, region)
    return Incoming(
        cons_id=values.cons_id,
        fields=fields,
        phone_raw=values.phone_raw,
        phone=mobile.e164 if mobile else None,
        phone_zone=mobile.zone if mobile else None,
        phone_problem=problem,
        opted_in=values.opted_in,
        centers=frozenset(centers),
        modified_at=values.modified_at,
        email_problem=email_problem,
    )


def read_all(values: Iterable[Values], region: str) -> list[Incoming]:
    """:func:`read` for many records: the unit of work handed to a worker process."""
    return [read(one, region) for one in values]


def from_api(plan: MappingPlan, record: Mapping[str, Any], centers: Iterable[str] = ()) -> Incoming:
    """A getUser record (the client's flat dict) as the policy sees it."""
    modified = record.get("modify_time")
    values = _values(
        plan,
        _text(record.get("cons_id")),
        lambda column: record.get(column.api_name),
        modified if isinstance(modified, datetime) else None,
    )
    return read(values, plan.region, centers)


def values_from_file(plan: MappingPlan, row: Row) -> Values:
    """A changed-records row's values (file mode: no getUser), still to be :func:`read`."""

    def get(column: Column) -> str:
        return row.get(column_key(column.csv_heading)) if column.csv_heading else ""

    return _values(plan, row.cons_id, get, row.modify_time)
