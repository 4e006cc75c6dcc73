"""Settings of a simulated Luminate Online site."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime

QUIRK_NAMES = (
    "string_scalars",
    "collapse_lists",
    "empty_text_as_object",
    "null_vs_absent",
    "date_format",
    "custom_grouping",
)


@dataclass
class Quirks:
    """JSON/XML oddities of the real service; all on means faithful."""

    string_scalars: bool = True
    collapse_lists: bool = True
    empty_text_as_object: bool = True
    null_vs_absent: bool = True
    date_format: bool = True
    custom_grouping: bool = True

    def set_all(self, value: bool) -> None:
        for name in QUIRK_NAMES:
            setattr(self, name, value)

    def as_dict(self) -> dict[str, bool]:
        return {name: getattr(self, name) for name in QUIRK_NAMES}

    def update(self, values: dict) -> None:
        for name, value in values.items():
            if name not in QUIRK_NAMES:
                raise ValueError(f"unknown quirk {name!r}; known: {', '.join(QUIRK_NAMES)}")
            if not isinstance(value, bool):
                raise ValueError(f"quirk {name!r} takes true or false, got {value!r}")
            setattr(self, name, value)


# Tokens of the changed file's name: the site's short name, and parts of the file's date and time (as
# strftime formats). The date tokens are those the integration's file name pattern may use.
FILE_NAME_TOKEN = re.compile(r"\{([^{}]*)\}")
FILE_NAME_SITE_TOKENS = ("org", "shortname")
FILE_NAME_TIME_TOKENS = {
    "YYYYMMDD": "%Y%m%d",
    "YYYY-MM-DD": "%Y-%m-%d",
    "YYMMDD": "%y%m%d",
    "YYYY": "%Y",
    "YY": "%y",
    "MM": "%m",
    "DD": "%d",
    "HHMMSS": "%H%M%S",
}


@dataclass
class FileOptions:
    """How the nightly changed-records file is written (luminate-api.md §11.2)."""

    header_style: str = "db"  # "db" (CONS_ID) or "label" (Constituent ID)
    delimiter: str = ","
    encoding: str = "utf-8"  # utf-8, utf-8-sig, cp1252
    line_ending: str = "\r\n"
    quoting: str = "minimal"  # "minimal" or "all"
    name_pattern: str = "{shortname}_changed_constituents_{YYYYMMDD}.csv"
    folder: str = ""
    manifest: bool = False
    timestamp_format: str = "default"  # "default", "iso" or "us"
    donation_columns: bool = False

    def replace(self, **changes) -> FileOptions:
        known = {f.name for f in dataclasses.fields(self)}
        for key in changes:
            if key not in known:
                raise ValueError(f"unknown file option {key!r}; known: {', '.join(sorted(known))}")
        merged = dataclasses.replace(self, **changes)
        merged.validate()
        return merged

    def validate(self) -> None:
        checks = {
            "header_style": ("db", "label"),
            "encoding": ("utf-8", "utf-8-sig", "cp1252"),
            "line_ending": ("\r\n", "\n"),
            "quoting": ("minimal", "all"),
            "timestamp_format": ("default", "iso", "us"),
        }
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"file option {name}={getattr(self, name)!r} is not one of {allowed}")
        if len(self.delimiter) != 1:
            raise ValueError(f"file option delimiter={self.delimiter!r} must be one character")
        tokens = set(FILE_NAME_TOKEN.findall(self.name_pattern))
        unknown = sorted(tokens - {*FILE_NAME_SITE_TOKENS, *FILE_NAME_TIME_TOKENS})
        if unknown:
            known = ", ".join(f"{{{token}}}" for token in (*FILE_NAME_SITE_TOKENS, *FILE_NAME_TIME_TOKENS))
            raise ValueError(
                f"file option name_pattern={self.name_pattern!r} has unknown token(s) "
                f"{', '.join(f'{{{token}}}' for token in unknown)}; known: {known}"
            )
        whole_date = {"YYYYMMDD", "YYYY-MM-DD", "YYMMDD"} & tokens
        if not whole_date and not ({"YYYY", "YY"} & tokens and {"MM", "DD"} <= tokens):
            raise ValueError(
                f"file option name_pattern={self.name_pattern!r} needs a date token, such as {{YYYYMMDD}} "
                "or {YYYY}, {MM} and {DD}"
            )


@dataclass
class SimulatorConfig:
    seed: int = 1
    constituents: int = 1000
    org: str = "simorg"
    api_key: str = "sim-api-key"
    login_name: str = "apiuser"
    login_password: str = "sim-password"
    # Extra logins: name -> (password, has "Use Luminate Online APIs" right).
    extra_logins: dict[str, tuple[str, bool]] = field(
        default_factory=lambda: {"webadmin": ("web-password", False)}
    )
    opt_in_field: str = "custom_boolean50"
    extra_custom_booleans: tuple[int, ...] = (1, 2, 3)
    allowed_cidrs: tuple[str, ...] = ("127.0.0.0/8",)
    host: str = "127.0.0.1"
    port: int = 0
    ftp: bool = False
    ftps: bool = False
    ftp_port: int = 0
    ftps_port: int = 0
    ftp_user: str = "datasync"
    ftp_password: str = "sim-ftp-password"
    ftp_root: str | None = None
    latency_ms: int = 0
    jitter_ms: int = 0
    # Share of seeded constituents with a mobile number, and of those, opted in.
    mobile_share: float = 0.6
    opt_in_share: float = 0.7
    no_email_share: float = 0.02
    # "reject": create with a known email -> 11, update to another record's email -> 13.
    duplicate_emails: str = "reject"
    clock_start: datetime | None = None
    clock_frozen: bool = False
    site_utc_offset_minutes: int = -300
    quirks: Quirks = field(default_factory=Quirks)
    file_options: FileOptions = field(default_factory=FileOptions)
    control_token: str | None = None
    request_log_size: int = 10000

    def __post_init__(self) -> None:
        if not ipaddress.ip_address(self.host).is_loopback:
            raise ValueError(f"host={self.host!r}: the simulator only listens on loopback addresses")
        if self.constituents < 0:
            raise ValueError(f"constituents={self.constituents!r} must be >= 0")
        if not self.opt_in_field.startswith("custom_boolean") or not self.opt_in_field[14:].isdigit():
            raise ValueError(f"opt_in_field={self.opt_in_field!r} must look like custom_booleanN")
        if self.duplicate_emails not in ("reject", "allow"):
            raise ValueError(f"duplicate_emails={self.duplicate_emails!r} must be 'reject' or 'allow'")
        for share in ("mobile_share", "opt_in_share", "no_email_share"):
            value = getattr(self, share)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{share}={value!r} must be between 0 and 1")
        self.file_options.validate()

    def __repr__(self) -> str:
        return f"SimulatorConfig(seed={self.seed}, constituents={self.constituents}, org={self.org!r}, login_name={self.login_name!r})"

    @property
    def custom_boolean_ids(self) -> tuple[int, ...]:
        opt_in = int(self.opt_in_field[14:])
        return tuple(sorted({*self.extra_custom_booleans, opt_in}))
