"""Phone numbers: reading what people type into E.164, and telling mobiles from fixed lines."""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberType

# phonenumbers cannot tell mobiles from fixed lines in some plans (the US among them) and answers
# FIXED_LINE_OR_MOBILE there; such a number may well receive texts, so it is not refused.
_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


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
    number, kind = _parse(raw, region)
    if kind not in _MOBILE_TYPES:
        raise NotAMobileNumber(f"{raw!r} is a fixed line or another number that cannot receive texts.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
