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


def _parse(raw: str, region: str) -> phonenumbers.PhoneNumber:
    text = "" if raw is None else str(raw).strip()
    if not text:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number: the value is empty.")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number ({exc._msg}).") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number for region {region}.")
    return number


def normalize_phone(raw: str, region: str) -> str:
    """Return ``raw`` in E.164 form, reading a number without a country code as one of ``region``.

    Raises:
        InvalidPhoneNumber: ``raw`` is empty, unparseable, or not a valid number.
    """
    return phonenumbers.format_number(_parse(raw, region), phonenumbers.PhoneNumberFormat.E164)


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
    e164 = normalize_phone(raw, region)
    if not is_mobile(e164):
        raise NotAMobileNumber(f"{raw!r} is a fixed line or another number that cannot receive texts.")
    return e164
