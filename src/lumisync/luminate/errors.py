"""The three kinds of failure a Luminate call can end in, and how a reply is sorted into them.

* :class:`RunLevelError`: the integration is misconfigured (API key, login, IP allow-list, URL); every
  further call would fail the same way, so the run stops and the message names the setting to fix.
* :class:`RecordLevelError`: this one record cannot be read or written (not found, several matches,
  duplicate, validation); the run carries the error on the record and goes on.
* :class:`TransientError`: Luminate or the network had a bad moment (code 1, HTTP 5xx, timeouts, resets,
  bodies that are not JSON); the client retries it with backoff and raises it once attempts run out.
"""

from __future__ import annotations


class LuminateError(Exception):
    """A failed Luminate call.

    ``code`` is Luminate's error code (``None`` when the failure was not an ``errorResponse``),
    ``luminate_message`` the text Luminate sent, ``method`` the API method called and ``http_status``
    the HTTP status, if any reply arrived.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        code: int | None = None,
        luminate_message: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.code = code
        self.luminate_message = luminate_message
        self.http_status = http_status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, method={self.method!r}, code={self.code!r})"


class RunLevelError(LuminateError):
    """Stop the run: the site configuration or the API login's rights must be fixed first."""


class RecordLevelError(LuminateError):
    """This record failed; others may succeed."""


class NotFound(RecordLevelError):
    """No constituent matched the lookup (code 16)."""


class MultipleMatches(RecordLevelError):
    """The lookup matched several constituents (code 8, or 15 on update)."""


class Duplicate(RecordLevelError):
    """The write would duplicate another constituent (11 on create, 12 user name, 13 email)."""


class ValidationFailed(RecordLevelError):
    """Luminate rejected a field's value or a missing required field (9, 10, 22, 23, 30, 35 ...)."""


class MalformedRecord(RecordLevelError):
    """Luminate answered, but a value in the record cannot be read (for example a date that is not one)."""


class InvalidInput(RecordLevelError, ValueError):
    """The caller passed a value the client will not send (for example a non-numeric cons_id)."""


class TransientError(LuminateError):
    """Worth retrying: code 1, HTTP 5xx or 429, timeouts, resets, unreadable bodies."""


_RUN_LEVEL_ADVICE = {
    2: "Luminate refused the API key (code 2): check the integration's API key",
    3: (
        "Luminate refused the API login (code 3): check the integration's API login name and password, "
        "and that the login belongs to a security group with 'Use Luminate Online APIs'"
    ),
    4: (
        "Luminate refused requests from this server's IP address (code 4): add it to the site's "
        "'Luminate Online API IP White List' (CONVIO_API_IP_FILTER)"
    ),
    5: (
        "Luminate restricted this method to callers with an auth token (code 5): the server API login "
        "cannot use it; check the integration's Luminate host and organization short name"
    ),
    6: (
        "Luminate does not know this method (code 6): check the integration's Luminate host and "
        "organization short name"
    ),
    14: (
        "Luminate does not allow this method for the API login (code 14): give the login's security group "
        "the permission it needs (for groups, 'Use Luminate Online Groups API')"
    ),
    17: (
        "Luminate does not know this method (code 17): check the integration's Luminate host and "
        "organization short name"
    ),
}

_RECORD_LEVEL = {
    16: (NotFound, "Luminate found no matching constituent"),
    8: (MultipleMatches, "the lookup matched several constituents"),
    15: (MultipleMatches, "the update matched several constituents"),
    11: (Duplicate, "Luminate refused to add a duplicate constituent"),
    12: (Duplicate, "the user name belongs to another constituent"),
    13: (Duplicate, "the email address belongs to another constituent"),
    9: (ValidationFailed, "a required parameter is missing"),
    10: (ValidationFailed, "a required constituent field is missing"),
    22: (ValidationFailed, "a field value failed validation"),
    23: (ValidationFailed, "a field value is too long"),
    30: (ValidationFailed, "the interaction body is too long"),
    35: (ValidationFailed, "the input contains characters Luminate does not accept"),
}

# Codes that say "the same request may succeed later"; everything else unknown is record-level, so an
# unexpected code never loops and never stops a whole run.
TRANSIENT_CODES = frozenset({1})
RUN_LEVEL_CODES = frozenset(_RUN_LEVEL_ADVICE)


def error_for_code(
    code: int | None,
    luminate_message: str | None,
    *,
    method: str,
    http_status: int | None,
    subject: str = "",
) -> LuminateError:
    """Return the typed exception for an ``errorResponse`` with ``code`` and ``luminate_message``.

    ``subject`` names the record the call was about (``cons_id=1001172``), for record-level messages.
    """
    said = f": Luminate said {luminate_message!r}" if luminate_message else ""
    context = dict(method=method, code=code, luminate_message=luminate_message, http_status=http_status)
    if code in TRANSIENT_CODES:
        return TransientError(
            f"{method}: Luminate could not process the request (code {code}){said}", **context
        )
    if code in RUN_LEVEL_CODES:
        return RunLevelError(f"{_RUN_LEVEL_ADVICE[code]} [{method}]{said}", **context)
    kind, meaning = _RECORD_LEVEL.get(code, (RecordLevelError, "Luminate refused the request"))
    about = f" {subject}" if subject else ""
    return kind(f"{method}{about}: {meaning} (code {code}){said}", **context)
