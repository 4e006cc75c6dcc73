"""Phone numbers: reading what people type into E.164, and telling mobiles from fixed lines."""

from __future__ import annotations

from typing import NamedTuple

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers import timezone as phone_timezone

# phonenumbers cannot tell mobiles from fixed lines in some plans (the US among them) and answers
# FIXED_LINE_OR_MOBILE there; such a number may well receive texts, so it is not refused.
_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_UNKNOWN_ZONE = "Etc/Unknown"


class Mobile(NamedTuple):
    """A mobile number read once: its E.164 form and its time zone (see :func:`time_zone_name`)."""

    e164: str
    zone: str


class InvalidPhoneNumber(ValueError):
    """A value that is not a valid phone number; the message quotes the value."""


class NotAMobileNumber(InvalidPhoneNumber):
    """A valid number that cannot receive texts (a fixed line, a toll-free number ...)."""


def _parse(raw: str, region: str) -> tuple[phonenumbers.PhoneNumber, int]:
    """The number and its type; the type also decides validity (a number of no known type is invalid), so it
    is worked out once: it is most of the cost of reading a number."""
    text = "" if raw is None else str(raw).strip()
    if not text:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number: the value is empty.")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number ({exc._msg}).") from None
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number for region {region}.")
    return number, kind


def normalize_phone(raw: str, region: str) -> str:
    """Return ``raw`` in E.164 form, reading a number without a country code as one of ``region``.

    Raises:
        InvalidPhoneNumber: ``raw`` is empty, unparseable, or not a valid number.
    """
    return phonenumbers.format_number(_parse(raw, region)[0], phonenumbers.PhoneNumberFormat.E164)


def is_mobile(e164: str) -> bool:
    """Whether a valid number may receive texts: a mobile, or a number whose plan does not say."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(number) in _MOBILE_TYPES


def normalize_mobile(raw: str, region: str) -> str:
    """Like :func:`normalize_phone`, and also refuse numbers that cannot receive texts.

    Raises:
        InvalidPhoneNumber: as :func:`normalize_phone`.
        NotAMobileNumber: the number is valid but a fixed line (or another kind that takes no texts).
    """
    return read_mobile(raw, region).e164


def read_mobile(raw: str, region: str) -> Mobile:
    """:func:`normalize_mobile` together with the number's time zone, for a caller that will queue texts
    to it: reading a number is most of the cost of finding its zone, so it is done once.

    Raises:
        InvalidPhoneNumber, NotAMobileNumber: as :func:`normalize_mobile`.
    """
    number, kind = _parse(raw, region)
    if kind not in _MOBILE_TYPES:
        raise NotAMobileNumber(f"{raw!r} is a fixed line or another number that cannot receive texts.")
    return Mobile(
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), _zone(number, kind)
    )


def time_zone_name(e164: str) -> str:
    """The time zone of ``e164`` when its prefix maps to exactly one zone, else "".

    Numbers that span zones (toll-free, whole countries such as Australia) get "": guessing one of several
    would text some people at night, so the caller falls back to the organization's zone.
    """
    try:
        number, kind = _parse(e164, "ZZ")
    except InvalidPhoneNumber:
        return ""
    return _zone(number, kind)


def _zone(number: phonenumbers.PhoneNumber, kind: int) -> str:
    # phonenumbers' time_zones_for_number, given the type already worked out (it would work it out again).
    if phonenumbers.is_number_type_geographical(kind, number.country_code):
        zones = phone_timezone.time_zones_for_geographical_number(number)
    else:
        zones = phone_timezone.time_zones_for_number(number)
    if len(zones) != 1 or zones[0] == _UNKNOWN_ZONE:
        return ""
    return zones[0]
