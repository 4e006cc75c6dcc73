"""Test Connection: every check an integration must pass before it can be activated.

Each check gives one line: what was checked, whether it passed, what was found and, when it failed, the
fix. A check that depends on an earlier failed one is reported as not run rather than as a second failure.
Messages come from the Luminate client and the file fetcher, which already keep secrets out of them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import asdict, dataclass

from django.utils import timezone

from lumisync.datasync.mappings import label_of
from lumisync.datasync.models import AuditEntry, Integration, MappingKind
from lumisync.datasync.services import (
    Actor,
    api_ip_addresses,
    file_credentials,
    file_source,
    luminate_site_config,
    open_changed_file,
    record_audit,
)
from lumisync.datasync.sites import luminate_client
from lumisync.luminate import LuminateError, RetryPolicy, RunLevelError
from lumisync.luminate import files as luminate_files
from lumisync.luminate.egress import EgressRefused

PASSED, FAILED, NOT_RUN = "passed", "failed", "not run"

# How far back Test Connection looks for an export file: a nightly file should be there within a week.
FILE_LOOKBACK_DAYS = 7


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str = ""
    fix: str = ""

    @property
    def passed(self) -> bool:
        return self.status == PASSED


def _not_run(name: str, because: str) -> Check:
    return Check(name, NOT_RUN, f"Not checked: {because} failed.")


API_REACHABLE = "Luminate API reachable"
API_KEY = "API key accepted"
LOGIN = "API login accepted"
IP_ALLOWED = "This server's address is on the Luminate API IP allow list"
OPT_IN_FIELD = "Mobile opt-in Boolean field exists"
MAPPED_FIELDS = "Every mapped API field exists (listUserFields)"
FILE_LOGIN = "File server login works"
FILE_PRESENT = "An export file is there"
HEADINGS = "CSV headings match the field mappings"
_AFTER_REACHABLE = (API_KEY, LOGIN, IP_ALLOWED, OPT_IN_FIELD, MAPPED_FIELDS)


def _api_checks(integration: Integration) -> list[Check]:
    try:
        # An Administrator waits for the answer: fail fast rather than retry as a nightly run would.
        site = dataclasses.replace(
            luminate_site_config(integration),
            retry=RetryPolicy(max_attempts=2, base=0.2, cap=1.0),
            connect_timeout=5.0,
            read_timeout=15.0,
        )
    except (EgressRefused, ValueError) as exc:
        return [
            Check(API_REACHABLE, FAILED, str(exc), "Correct the API host name and organization code."),
            *(_not_run(name, API_REACHABLE) for name in _AFTER_REACHABLE),
        ]
    host = site.base_url
    try:
        with luminate_client(site) as client:
            viewable = {
                field.name: field for field in client.list_user_fields(access="view", include_choices=False)
            }
            updatable = {
                field.name for field in client.list_user_fields(access="update", include_choices=False)
            }
    except RunLevelError as exc:
        return _run_level_lines(exc, host)
    except LuminateError as exc:
        return [
            Check(
                API_REACHABLE,
                FAILED,
                str(exc),
                f"Check the API host name and organization code ({host}), and that Luminate is up.",
            ),
            *(_not_run(name, API_REACHABLE) for name in _AFTER_REACHABLE),
        ]
    lines = [
        Check(API_REACHABLE, PASSED, f"{host} answered."),
        Check(API_KEY, PASSED),
        Check(LOGIN, PASSED, f"Logged in as {integration.login_name}."),
        Check(IP_ALLOWED, PASSED),
    ]
    lines.append(_opt_in_check(integration.opt_in_field, viewable, updatable))
    lines.append(_mapped_fields_check(integration, viewable))
    return lines


def _run_level_lines(exc: RunLevelError, host: str) -> list[Check]:
    """One failed line for the refusal; the other access checks are unknown, since Luminate stops at the
    first refusal."""
    if exc.code == 2:
        failed = Check(API_KEY, FAILED, str(exc), "Copy the API key from Luminate's Open API configuration.")
    elif exc.code == 3:
        failed = Check(
            LOGIN,
            FAILED,
            str(exc),
            "Check the Login and Password, and that the login's security group has 'Use Luminate Online APIs'.",
        )
    elif exc.code == 4:
        addresses = ", ".join(api_ip_addresses()) or "this server's public address as a /32"
        failed = Check(IP_ALLOWED, FAILED, str(exc), f"Add {addresses} to Luminate's API IP Filter Block.")
    else:
        return [
            Check(API_REACHABLE, FAILED, str(exc), "Check the API host name and the organization code."),
            *(_not_run(name, API_REACHABLE) for name in _AFTER_REACHABLE),
        ]
    lines = [Check(API_REACHABLE, PASSED, f"{host} answered.")]
    for name in _AFTER_REACHABLE:
        if name == failed.name:
            lines.append(failed)
        elif name in (API_KEY, LOGIN, IP_ALLOWED):
            lines.append(
                Check(name, NOT_RUN, "Not checked: Luminate refused the request for another reason.")
            )
        else:
            lines.append(_not_run(name, failed.name))
    return lines


def _opt_in_check(name: str, viewable: dict, updatable: set[str]) -> Check:
    field = viewable.get(name)
    if field is None:
        return Check(
            OPT_IN_FIELD,
            FAILED,
            f"Luminate has no field {name!r}.",
            "Activate the Custom Boolean field in Luminate (for example Custom Boolean 50, renamed Mobile Opt-in) "
            "and enter its API name under Mobile opt-in Boolean field name.",
        )
    if (field.value_type or "").upper() != "BOOLEAN":
        return Check(
            OPT_IN_FIELD,
            FAILED,
            f"{name!r} is a {field.value_type} field, not a Boolean.",
            "Choose a Custom Boolean field (custom_booleanN).",
        )
    if name not in updatable:
        return Check(
            OPT_IN_FIELD,
            FAILED,
            f"The API login cannot update {name!r}.",
            "Give the API login's security group the right to change this field (Convio Admin access).",
        )
    label = f" ({field.label})" if field.label else ""
    return Check(OPT_IN_FIELD, PASSED, f"{name}{label} is a Boolean the API login can update.")


def _mapped_fields_check(integration: Integration, viewable: dict) -> Check:
    missing = [
        f"{label_of(mapping.field)}: {mapping.api_name!r}"
        for mapping in integration.field_mappings.all()
        if mapping.kind == MappingKind.CONSTITUENT and mapping.api_name and mapping.api_name not in viewable
    ]
    if missing:
        return Check(
            MAPPED_FIELDS,
            FAILED,
            "Luminate does not know " + "; ".join(missing) + ".",
            "Correct these API field names under Edit Field Mappings, or activate the fields in Luminate.",
        )
    return Check(MAPPED_FIELDS, PASSED, "Every constituent-field mapping names a Luminate field.")


def _file_checks(integration: Integration, today: dt.date) -> list[Check]:
    if not integration.export_url:
        return [
            Check(
                FILE_LOGIN,
                FAILED,
                "No export file URL is set.",
                "Enter the URL of the nightly CSV export file.",
            ),
            _not_run(FILE_PRESENT, FILE_LOGIN),
            _not_run(HEADINGS, FILE_LOGIN),
        ]
    source = file_source(integration)
    since = today - dt.timedelta(days=FILE_LOOKBACK_DAYS)
    try:
        result = luminate_files.fetch_changed_files(
            source, file_credentials(integration), luminate_files.InMemoryProcessedFiles(), since=since
        )
    except luminate_files.FileMissing as exc:
        return [
            Check(FILE_LOGIN, PASSED, f"Logged in to {exc.host}."),
            Check(FILE_PRESENT, FAILED, str(exc), "Check the folder in the export file URL."),
            _not_run(HEADINGS, FILE_PRESENT),
        ]
    except (luminate_files.ChangedFileError, EgressRefused, ValueError) as exc:
        return [
            Check(FILE_LOGIN, FAILED, str(exc), _file_fix(exc)),
            _not_run(FILE_PRESENT, FILE_LOGIN),
            _not_run(HEADINGS, FILE_LOGIN),
        ]
    with result:
        login = Check(FILE_LOGIN, PASSED, f"Logged in to {result.host}.")
        if not result.files:
            waiting = f" {len(result.not_ready)} file(s) wait for their manifest." if result.not_ready else ""
            return [
                login,
                Check(
                    FILE_PRESENT,
                    FAILED,
                    f"No file matching {integration.file_name_pattern!r} dated within the last "
                    f"{FILE_LOOKBACK_DAYS} days.{waiting}",
                    "Ask Luminate Support to set up the recurring changed-records export, or correct the file "
                    "name pattern.",
                ),
                _not_run(HEADINGS, FILE_PRESENT),
            ]
        newest = result.files[-1]
        present = Check(FILE_PRESENT, PASSED, f"{newest.name} ({newest.size} bytes).")
        return [login, present, _headings_check(integration, newest)]


def _file_fix(exc: Exception) -> str:
    if isinstance(exc, luminate_files.LoginRefused):
        return "Check the Data Sync user name and password."
    if isinstance(exc, luminate_files.CertificateMismatch):
        return "Check the file server certificate fingerprint, or clear it to trust the usual certificate authorities."
    if isinstance(exc, luminate_files.TLSRefused):
        return "Use ftps:// only if the server offers TLS; Luminate's FTP does (explicit TLS on port 21)."
    if isinstance(exc, EgressRefused | ValueError):
        return "Correct the export file URL or the file name pattern."
    return "Check the host and port in the export file URL, and that the server is up."


def _headings_check(integration: Integration, fetched: luminate_files.FetchedFile) -> Check:
    try:
        reader = open_changed_file(integration, fetched.path, name=fetched.name)
    except (luminate_files.ChangedFileError, ValueError) as exc:
        return Check(HEADINGS, FAILED, str(exc), "Check the CSV delimiter and encoding settings.")
    problems = []
    for mapping in integration.field_mappings.all():
        if mapping.kind == MappingKind.CALL or not mapping.csv_heading:
            continue
        try:
            reader.column(mapping.csv_heading)
        except luminate_files.UnknownHeading as exc:
            problems.append(f"{label_of(mapping.field)}: {exc}")
    if problems:
        return Check(
            HEADINGS,
            FAILED,
            " ".join(problems),
            "Correct the CSV Heading under Edit Field Mappings (or clear it when the file does not carry the field).",
        )
    return Check(HEADINGS, PASSED, "Headings: " + ", ".join(reader.headings) + ".")


def run_connection_test(
    integration: Integration, actor: Actor, *, today: dt.date | None = None
) -> list[Check]:
    """Run every check, store the outcome on the integration (for activation) and audit it."""
    version = integration.config_version
    checks = _api_checks(integration) + _file_checks(integration, today or timezone.localdate())
    passed = all(check.passed for check in checks)
    Integration.objects.filter(pk=integration.pk).update(
        last_test_at=timezone.now(),
        last_test_passed=passed,
        tested_config_version=version,
        last_test_results=[asdict(check) for check in checks],
    )
    integration.refresh_from_db()
    failed = [check.name for check in checks if check.status == FAILED]
    record_audit(
        integration,
        actor,
        AuditEntry.Action.TESTED,
        "Test Connection passed." if passed else "Test Connection failed: " + "; ".join(failed) + ".",
    )
    return checks
