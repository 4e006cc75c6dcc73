"""The two ways the API says no: an XML error (Mobile Commons' ids) or an HTTP error page."""

from __future__ import annotations

# Mobile Commons answers a bad call with HTTP 200 and <error id=".." message=".."/>. Id 5 is Mobile
# Commons' own "Invalid phone number", which it also answers for a number without a profile (clients read
# it as "not found, create it"); the others are this platform's, listed in docs/api.md.
INVALID_PARAMETER = 0
INVALID_CAMPAIGN = 1
INVALID_OPT_IN_PATH = 4
INVALID_PHONE_NUMBER = 5
MISSING_PARAMETER = 7
INVALID_SUBSCRIPTION = 8

TITLES = {
    INVALID_PARAMETER: "Invalid parameter",
    INVALID_CAMPAIGN: "Invalid campaign id",
    INVALID_OPT_IN_PATH: "Invalid opt-in path",
    INVALID_PHONE_NUMBER: "Invalid phone number",
    MISSING_PARAMETER: "Missing parameter",
    INVALID_SUBSCRIPTION: "Invalid subscription id",
}


class ApiError(Exception):
    """A refused call: ``message`` names the parameter and the value."""

    def __init__(self, error_id: int, detail: str):
        self.error_id = error_id
        self.detail = detail
        super().__init__(f"{TITLES[error_id]}: {detail}")

    @property
    def message(self) -> str:
        return str(self)


class HttpProblem(Exception):
    """An HTTP-level refusal (401, 404, 429 ...), answered with a small HTML page."""

    def __init__(self, status: int, title: str, message: str, headers: dict[str, str] | None = None):
        self.status = status
        self.title = title
        self.message = message
        self.headers = headers or {}
        super().__init__(f"{status} {title}: {message}")
