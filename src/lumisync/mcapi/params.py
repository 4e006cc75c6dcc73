"""Reading API parameters from the query string and the form body alike, with errors naming the value."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from lumisync.mcapi.errors import (
    INVALID_PARAMETER,
    INVALID_PHONE_NUMBER,
    MISSING_PARAMETER,
    ApiError,
)
from lumisync.subscribers.phones import InvalidPhoneNumber, normalize_phone

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
MAX_LIMIT = 1000


def merged(request) -> QueryDict:
    """The query string and the form body as one: clients send either, and parsons sends POSTs as a query."""
    params = request.GET.copy()
    for key, values in request.POST.lists():
        params.setlist(key, params.getlist(key) + values)
    return params


class Params:
    def __init__(self, data: QueryDict, organization):
        self.data = data
        self.organization = organization

    def text(self, name: str, *, required: bool = False, max_length: int | None = None) -> str:
        value = (self.data.get(name) or "").strip()
        if required and not value:
            raise ApiError(MISSING_PARAMETER, f"{name} is required.")
        if max_length is not None and len(value) > max_length:
            raise ApiError(
                INVALID_PARAMETER, f"{name} {value[:40]!r}… is {len(value)} characters, over {max_length}."
            )
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name).lower()
        if not raw:
            return default
        if raw in TRUE_WORDS:
            return True
        if raw in FALSE_WORDS:
            return False
        raise ApiError(INVALID_PARAMETER, f"{name} {raw!r} is not true or false.")

    def integer(self, name: str, *, default: int | None = None, minimum: int = 1, maximum: int | None = None):
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(INVALID_PARAMETER, f"{name} {raw!r} is not a whole number.") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more"
            raise ApiError(INVALID_PARAMETER, f"{name} {raw!r} is out of range ({bounds}).")
        return value

    def required_id(self, name: str, error_id: int) -> int:
        self.text(name, required=True)
        return self.optional_id(name, error_id)

    def optional_id(self, name: str, error_id: int) -> int | None:
        raw = self.text(name)
        if not raw:
            return None
        if not raw.isdigit():
            raise ApiError(error_id, f"{name} {raw!r} is not an id.")
        return int(raw)

    def paging(self, default_limit: int = 100) -> tuple[int, int]:
        limit = self.integer("limit", default=default_limit, maximum=MAX_LIMIT)
        page = self.integer("page", default=1)
        return limit, page

    def moment(self, name: str, *, end_of_day: bool = False) -> dt.datetime | None:
        """An ISO-8601 date or date-time; a bare date is read in the organization's time zone."""
        raw = self.text(name)
        if not raw:
            return None
        value = day = None
        try:
            # A bare date first: parse_datetime would read "2026-03-10" as midnight.
            day = parse_date(raw)
            if day is None:
                value = parse_datetime(raw.replace(" UTC", "+00:00"))
        except ValueError:
            pass
        if value is None and day is None:
            raise ApiError(
                INVALID_PARAMETER, f"{name} {raw!r} is not a date (YYYY-MM-DD) or ISO-8601 date-time."
            )
        if value is None:
            time = dt.time.max if end_of_day else dt.time.min
            return dt.datetime.combine(day, time, tzinfo=self.organization.zone)
        if timezone.is_naive(value):
            value = value.replace(tzinfo=self.organization.zone)
        return value

    def phone(self, name: str = "phone_number", *, required: bool = True) -> str:
        raw = self.text(name, required=required)
        if not raw:
            return ""
        return phone_or_error(raw, self.organization, name)

    def phones(self, name: str = "phone_number") -> list[str]:
        raw = ",".join(self.data.getlist(name))
        return [phone_or_error(item, self.organization, name) for item in raw.split(",") if item.strip()]

    def decimal(self, name: str) -> Decimal | None:
        raw = self.text(name)
        if not raw:
            return None
        try:
            value = Decimal(raw.replace(",", "").lstrip("$€£ "))
        except InvalidOperation:
            raise ApiError(INVALID_PARAMETER, f"{name} {raw!r} is not an amount.") from None
        if not value.is_finite() or value < 0:
            raise ApiError(INVALID_PARAMETER, f"{name} {raw!r} is not an amount.")
        return value.quantize(Decimal("0.01"))


def phone_or_error(raw: str, organization, name: str = "phone_number") -> str:
    try:
        return normalize_phone(raw, organization.phone_region)
    except InvalidPhoneNumber as exc:
        raise ApiError(INVALID_PHONE_NUMBER, f"{name}: {exc}") from None
