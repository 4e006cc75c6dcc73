"""``lumisync integration show|set|test|activate|deactivate --org ORG``: Data Sync set-up from the command line.

Settings come from flags or a TOML/JSON file; secrets only from a file or standard input, never from the
command line, where they would land in shell history and process lists. Every change is validated by the
same forms as the web pages and audited the same way.
"""

from __future__ import annotations

import getpass
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import models

from lumisync.accounts.models import Organization
from lumisync.datasync import services
from lumisync.datasync.forms import (
    MODEL_FIELDS,
    GroupPathFormSet,
    IntegrationForm,
    MappingsForm,
    choosable_web_paths,
    form_data,
)
from lumisync.datasync.models import Integration, IntegrationType
from lumisync.datasync.preflight import FAILED, run_connection_test
from lumisync.subscribers.models import OptInPath

SECRETS = services.SECRET_FIELDS
# Read from the model, so a new checkbox setting is never left to Django's CheckboxInput, which takes any
# text but "false" (even "no") as ticked.
BOOLEAN_FIELDS = tuple(
    field.name
    for field in Integration._meta.get_fields()
    if isinstance(field, models.BooleanField) and field.name in MODEL_FIELDS
)
_TRUE, _FALSE = {"1", "true", "yes", "y", "on"}, {"0", "false", "no", "n", "off", ""}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _yes_no(value: str, what: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise CommandError(f"{what}: expected yes or no, not {value!r}.")


def _read_file(path: str) -> dict[str, Any]:
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
    is_json = file.suffix.lower() == ".json"
    try:
        data = json.loads(raw) if is_json else tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        kind = "JSON" if is_json else "TOML"
        raise CommandError(f"{path} is not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise CommandError(f"{path} must hold a table (object) of settings.")
    return data


def _form_errors(form) -> str:
    lines = []
    for name, errors in form.errors.items():
        where = form.fields[name].label if name in form.fields else "settings"
        lines.extend(f"  {where} ({name}): {error}" for error in errors)
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Show, configure, test, activate or deactivate an organization's Data Sync integration."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="show|set|test|activate|deactivate")

        def add(name: str, help_text: str):
            command = sub.add_parser(name, help=help_text)
            command.add_argument("--org", required=True, help="Organization slug.")
            command.add_argument(
                "--as",
                dest="as_user",
                help="Record the change as this user (an Administrator of the organization).",
            )
            return command

        show = add(
            "show", "Print the integration's settings (secrets as set/not set), mappings, paths and state."
        )
        show.add_argument("--json", action="store_true", help="Print JSON.")

        change = add("set", "Create or change the integration.")
        change.add_argument(
            "--file",
            help="A TOML or JSON file of settings; it may also hold secrets, mappings and group_paths.",
        )
        change.add_argument(
            "--secret",
            action="append",
            default=[],
            choices=SECRETS,
            help="Read this secret from standard input, one line per --secret, in order.",
        )
        change.add_argument(
            "--clear-secret",
            action="append",
            default=[],
            choices=SECRETS,
            metavar="NAME",
            help="Remove this stored secret (repeatable); login_password and api_key not while active.",
        )
        change.add_argument(
            "--confirm-sms-consent",
            action="store_true",
            help="For Liberal sync: the organization holds SMS consent for every mobile number in Luminate.",
        )
        change.add_argument(
            "--confirm-rename",
            action="store_true",
            help="Confirm a new --opt-in-field, or renamed Phone, Email or Opt-in mapping API fields.",
        )
        for name in MODEL_FIELDS:
            if name in SECRETS:
                # Accepted only to refuse it with a clear message rather than argparse's "unrecognized".
                change.add_argument(
                    _flag(name), dest=f"refused_{name}", help="Refused: use --file or --secret."
                )
            else:
                change.add_argument(_flag(name), dest=name)

        add("test", "Run Test Connection; exits with status 1 when a check fails.")

        activate = add("activate", "Activate; the first activation needs both answers.")
        activate.add_argument(
            "--initial-load", help="yes or no: run an initial load from a full export file."
        )
        activate.add_argument(
            "--send-earlier-opt-ins", help="yes or no: send the platform's earlier opt-ins."
        )

        add("deactivate", "Deactivate; links and pending outbound events are kept.")

    def handle(self, *args, action: str, org: str, as_user: str | None, **options):
        try:
            organization = Organization.objects.get(slug=org)
        except Organization.DoesNotExist:
            raise CommandError(f"No organization with slug {org!r}.") from None
        actor = self._actor(organization, as_user)
        integration = Integration.objects.filter(organization=organization).first()
        if action == "set":
            self._set(organization, integration, actor, options)
            return
        if integration is None:
            raise CommandError(
                f"{organization} has no integration yet: create it with `lumisync integration set`."
            )
        getattr(self, f"_{action}")(integration, actor, options)

    def _actor(self, organization, username: str | None) -> services.Actor:
        if not username:
            return services.Actor(label=f"command line ({getpass.getuser()})")
        user = get_user_model().objects.filter(username=username).first()
        membership = user and user.memberships.filter(organization=organization).first()
        if membership is None or not membership.is_administrator:
            raise CommandError(f"{username!r} is not an Administrator of {organization}.")
        return services.Actor(label=f"{username} (command line)", user=user)

    # -- show ------------------------------------------------------------------------------------------

    def _show(self, integration: Integration, actor, options) -> None:
        data = self.describe(integration)
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2, default=str))
            return
        self.stdout.write(f"{integration} — {'Active' if integration.active else 'Inactive'}")
        for name, value in data["settings"].items():
            self.stdout.write(f"  {name}: {value}")
        self.stdout.write("Field mappings (field, API field name, CSV heading, required):")
        for row in data["mappings"]:
            required = " required" if row["required"] else ""
            self.stdout.write(
                f"  {row['field']}: {row['api_field_name'] or '-'} | {row['csv_heading'] or '-'}{required}"
            )
        self.stdout.write("Group opt-in paths (first match wins):")
        for row in data["group_paths"] or [{"group_id": "(none)", "group_name": "", "opt_in_path": ""}]:
            self.stdout.write(f"  {row['group_id']} {row['group_name']} -> {row['opt_in_path']}")
        for name, value in data["state"].items():
            self.stdout.write(f"{name}: {value}")

    @staticmethod
    def describe(integration: Integration) -> dict[str, Any]:
        settings = {}
        for name in MODEL_FIELDS:
            value = getattr(integration, name)
            if name in SECRETS:
                value = "set" if value else "not set"
            elif name == "default_opt_in_path":
                value = str(value) if value else None
            settings[name] = value
        return {
            "integration_type": integration.integration_type,
            "settings": settings,
            "mappings": [
                {
                    "field": m.field,
                    "kind": m.kind,
                    "api_field_name": m.api_name,
                    "csv_heading": m.csv_heading,
                    "required": m.required,
                }
                for m in integration.field_mappings.all()
            ],
            "group_paths": [
                {"group_id": g.group_id, "group_name": g.group_name, "opt_in_path": str(g.opt_in_path)}
                for g in integration.group_paths.select_related("opt_in_path__campaign")
            ],
            "state": {
                "active": integration.active,
                "first_activated_at": integration.first_activated_at,
                "test_passed_for_current_settings": integration.test_is_current,
                "next_inbound_run": services.next_inbound_run(integration).at if integration.active else None,
                "api_ip_filter_block": services.api_ip_addresses(),
            },
        }

    # -- set -------------------------------------------------------------------------------------------

    def _set(self, organization, integration: Integration | None, actor, options) -> None:
        for name in SECRETS:
            if options.get(f"refused_{name}") is not None:
                raise CommandError(
                    f"{_flag(name)}: secrets are never taken on the command line. Put {name} in the --file, or "
                    f"pass --secret {name} and type it on standard input."
                )
        loaded = _read_file(options["file"]) if options["file"] else {}
        mappings = loaded.pop("mappings", None)
        group_paths = loaded.pop("group_paths", None)
        integration_type = loaded.pop("integration_type", IntegrationType.LUMINATE)
        unknown = sorted(set(loaded) - set(MODEL_FIELDS))
        if unknown:
            raise CommandError(
                f"{options['file']}: unknown settings {', '.join(unknown)}; known: {', '.join(MODEL_FIELDS)}."
            )
        values = dict(loaded)
        for name in MODEL_FIELDS:
            if name not in SECRETS and options.get(name) is not None:
                values[name] = options[name]
        for name in options["secret"]:
            line = getpass.getpass(f"{name}: ") if sys.stdin.isatty() else sys.stdin.readline()
            if not line.strip():
                raise CommandError(f"--secret {name}: standard input gave no value.")
            values[name] = line.rstrip("\r\n")
        for name in BOOLEAN_FIELDS:
            if isinstance(values.get(name), str):
                values[name] = _yes_no(values[name], name)
        if "default_opt_in_path" in values:
            values["default_opt_in_path"] = self._path_id(organization, values["default_opt_in_path"])

        if integration is None:
            if integration_type not in IntegrationType.values:
                raise CommandError(
                    f"integration_type {integration_type!r} is not one of {', '.join(IntegrationType.values)}."
                )
            integration = services.create_integration(organization, actor, integration_type)
            self.stdout.write(
                f"Created the {integration.get_integration_type_display()} integration of {organization}."
            )

        if values or options["clear_secret"]:
            data = form_data(integration)
            data.update(values)
            data["confirm_sms_consent"] = options["confirm_sms_consent"]
            data["confirm_rename"] = options["confirm_rename"]
            data.update({f"clear_{name}": True for name in options["clear_secret"]})
            form = IntegrationForm(data, instance=integration)
            if "allow_plain_http" in values and "allow_plain_http" not in form.fields:
                raise CommandError(
                    "allow_plain_http: the operator does not allow plain http (LUMISYNC_ALLOW_INSECURE_HTTP)."
                )
            if not form.is_valid():
                raise CommandError("Nothing was saved:\n" + _form_errors(form))
            changed = services.apply_settings(
                integration,
                form.settings_values(),
                actor,
                sms_consent_confirmed=options["confirm_sms_consent"],
            )
            self.stdout.write("Changed: " + ", ".join(changed) if changed else "Settings unchanged.")
            integration.refresh_from_db()
            self._warn_if_running_untested(integration, changed)
        if mappings is not None:
            self._set_mappings(integration, mappings, actor, options["confirm_rename"])
        if group_paths is not None:
            self._set_group_paths(integration, group_paths, actor)

    def _path_id(self, organization, value) -> Any:
        if value in (None, ""):
            return ""
        paths = OptInPath.objects.filter(organization=organization, kind=OptInPath.Kind.WEB)
        found = paths.filter(pk=value).first() if str(value).isdigit() else None
        found = found or paths.filter(name=str(value)).first()
        if found is None:
            names = ", ".join(repr(p.name) for p in paths) or "(none)"
            raise CommandError(
                f"default_opt_in_path: no web opt-in path {value!r}; the web paths are {names}."
            )
        return found.pk

    def _set_mappings(self, integration: Integration, mappings: Any, actor, confirm_rename: bool) -> None:
        if not isinstance(mappings, dict):
            raise CommandError("mappings must be a table keyed by field, e.g. [mappings.phone_number].")
        form = MappingsForm(integration=integration)
        data: dict[str, Any] = {"confirm_rename": confirm_rename}
        for mapping in form.mappings:
            data[f"{mapping.field}-api"] = mapping.api_name
            data[f"{mapping.field}-csv"] = mapping.csv_heading
            data[f"{mapping.field}-required"] = mapping.required
        known = {m.field for m in form.mappings}
        for field, row in mappings.items():
            if field not in known:
                raise CommandError(f"mappings: unknown field {field!r}; known: {', '.join(sorted(known))}.")
            if not isinstance(row, dict) or set(row) - {"api_field_name", "csv_heading", "required"}:
                raise CommandError(
                    f"mappings.{field}: give api_field_name, csv_heading and/or required, not {row!r}."
                )
            if "api_field_name" in row:
                data[f"{field}-api"] = row["api_field_name"]
            if "csv_heading" in row:
                data[f"{field}-csv"] = row["csv_heading"]
            if "required" in row:
                data[f"{field}-required"] = row["required"] is True or _yes_no(
                    str(row["required"]), f"mappings.{field}.required"
                )
        form = MappingsForm(data, integration=integration)
        if not form.is_valid():
            raise CommandError("Field mappings not saved:\n" + _form_errors(form))
        changed = services.save_mappings(integration, form.changes(), actor)
        self.stdout.write(
            "Field mappings changed: " + "; ".join(changed) if changed else "Field mappings unchanged."
        )
        self._warn_if_running_untested(integration, changed)

    def _warn_if_running_untested(self, integration: Integration, changed: list[str]) -> None:
        if changed and services.runs_untested(integration):
            self.stderr.write("Warning: " + services.UNTESTED_WHILE_ACTIVE)

    def _set_group_paths(self, integration: Integration, rows: Any, actor) -> None:
        if not isinstance(rows, list):
            raise CommandError(
                'group_paths must be a list, e.g. [{group_id = "1002", opt_in_path = "Volunteers"}].'
            )
        groups, problem = services.luminate_groups(integration)
        if problem:
            raise CommandError(
                f"Group opt-in paths not saved: Luminate's group list could not be read: {problem}"
            )
        data = {"paths-TOTAL_FORMS": len(rows), "paths-INITIAL_FORMS": 0}
        for index, row in enumerate(rows):
            if not isinstance(row, dict) or set(row) != {"group_id", "opt_in_path"}:
                raise CommandError(
                    f"group_paths[{index}] needs exactly group_id and opt_in_path, not {row!r}."
                )
            data[f"paths-{index}-group"] = str(row["group_id"])
            data[f"paths-{index}-opt_in_path"] = self._path_id(integration.organization, row["opt_in_path"])
            data[f"paths-{index}-ORDER"] = index
        paths = choosable_web_paths(
            integration.organization, stored=integration.group_paths.values_list("opt_in_path_id", flat=True)
        )
        formset = GroupPathFormSet(data, form_kwargs={"groups": groups, "paths": paths}, prefix="paths")
        if not formset.is_valid():
            problems = [str(e) for e in formset.non_form_errors()]
            for index, form in enumerate(formset.forms):
                problems += [f"group_paths[{index}]: {_form_errors(form).strip()}"] if form.errors else []
            raise CommandError("Group opt-in paths not saved:\n" + "\n".join(problems))
        changed = services.save_group_paths(integration, formset.rows(), actor)
        self.stdout.write("Group opt-in paths saved." if changed else "Group opt-in paths unchanged.")

    # -- test, activate, deactivate --------------------------------------------------------------------

    def _test(self, integration: Integration, actor, options) -> None:
        checks = run_connection_test(integration, actor)
        for check in checks:
            self.stdout.write(
                f"[{check.status}] {check.name}" + (f": {check.detail}" if check.detail else "")
            )
            if check.fix and check.status == FAILED:
                self.stdout.write(f"    fix: {check.fix}")
        if not all(check.passed for check in checks):
            raise CommandError("Test Connection failed.", returncode=1)
        self.stdout.write("Test Connection passed.")

    def _activate(self, integration: Integration, actor, options) -> None:
        answers = {}
        if integration.first_activated_at is None:
            for option, name in (
                ("initial_load", "initial_load"),
                ("send_earlier_opt_ins", "export_earlier_opt_ins"),
            ):
                if options[option] is None:
                    numbers = services.activation_numbers(integration)
                    raise CommandError(
                        "The first activation needs --initial-load yes|no (run an initial load from a full export "
                        f"file; the platform has {numbers.profiles} profiles, {numbers.linked_profiles} linked) and "
                        f"--send-earlier-opt-ins yes|no ({numbers.earlier_opt_ins} earlier opt-ins of "
                        f"{numbers.earlier_opt_in_people} people in the synced campaigns; "
                        f"{numbers.still_subscribed} of them subscribed now)."
                    )
                answers[name] = _yes_no(options[option], _flag(option))
        try:
            integration = services.activate(integration, actor, **answers)
        except services.ActivationRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Active. The first sync runs {services.next_inbound_run(integration)}.")

    def _deactivate(self, integration: Integration, actor, options) -> None:
        try:
            services.deactivate(integration, actor)
        except services.ActivationRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            "Inactive. Links and pending outbound events are kept; reactivation picks up from here."
        )
