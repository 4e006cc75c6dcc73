"""The set-up forms. They validate for the web pages and for ``lumisync integration set`` alike."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django import forms
from django.db.models import Q, QuerySet

from lumisync.datasync.mappings import (
    RENAME_CONFIRM,
    REQUIRED_REFUSED,
    TRANSACTION_FIELD,
    label_of,
    luminate_field_name_error,
    rename_confirmation_error,
)
from lumisync.datasync.models import FieldMapping, Integration, IntegrationType, MappingKind, SyncType
from lumisync.datasync.services import (
    API_SECRETS,
    CLEAR_SECRET,
    SECRET_FIELDS,
    GroupPath,
    MappingChange,
    insecure_http_allowed,
    private_hosts_allowed,
)
from lumisync.luminate.egress import EgressRefused, check_host, check_url
from lumisync.luminate.files import FilePattern
from lumisync.subscribers.models import OptInPath

_ORG_CODE = re.compile(r"[A-Za-z0-9_-]+")
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{64}")
# Where a URL's host part (after "scheme://") ends.

HELP = {
    "login_name": (
        "The user name of the Luminate API user. Create a login used only by this sync, in a security group "
        "with 'Use Luminate Online APIs'."
    ),
    "login_password": "The password of the API user. Stored encrypted; leave blank to keep the stored one.",
    "default_opt_in_path": (
        "Optional. New subscribers from Luminate join through this web opt-in path and receive its welcome "
        "message, unless a group opt-in path applies. Without one, profiles are created but not subscribed."
    ),
    "export_url": (
        "Where the nightly changed-records file is: ftp://host/folder/ or ftps://host/folder/ (explicit TLS), "
        "as Luminate Support sets it up, or https://... when the file is relayed."
    ),
    "file_name_pattern": (
        "The name of the nightly file, with {org} for the organization code and a date token such as "
        "{YYYYMMDD}, so files are taken oldest first."
    ),
    "organization_code": "Luminate's organization short name; it is usually in your Luminate URL.",
    "api_key": "The API key of Luminate's web services (Open API configuration). Stored encrypted.",
    "api_host": "The host name for API requests only, such as secure2.convio.net (no https://, no path).",
    "center_ids": (
        "Luminate centers to include in the sync, separated by commas. Leave blank if the sync does not "
        "involve a specific center."
    ),
    "source_code": "Tells Luminate that a record came from this platform. The default is mcommons.",
    "no_welcome": (
        "Leave blank to let Luminate send its welcome email to new constituents (if enabled in Luminate); "
        "enter 1 to set No_Welcome, and Luminate's settings decide."
    ),
    "datasync_username": "The user name of the file server (FTP) where the nightly file is placed.",
    "datasync_password": "The file server password. Stored encrypted; leave blank to keep the stored one.",
    "site_admin_username": "Optional Site Admin login, to help troubleshoot the integration.",
    "site_admin_password": "Optional Site Admin password. Stored encrypted; leave blank to keep the stored one.",
    "opt_in_field": (
        "The API name of the Luminate checkbox that marks a constituent as a mobile subscriber, for example "
        "custom_boolean50 (Custom Boolean 50 renamed Mobile Opt-in). It is the Opt-in status row of the field "
        "mappings too."
    ),
    "confirm_rename": (
        "Needed only when you change the Mobile opt-in Boolean field name: if the new name is wrong, the whole "
        "sync fails. Test Connection checks the new name."
    ),
    "sync_type": (
        "Liberal syncs every record with a mobile number both ways, whatever its Luminate opt-in status. "
        "Conservative syncs only records whose opt-in field is true."
    ),
    "confirm_sms_consent": (
        "Liberal sync texts every mobile number in Luminate: confirm that your organization holds SMS consent "
        "for all of them. Your name and the time are kept in the audit log."
    ),
    "notes": "For your own use only; never sent anywhere.",
    "api_concurrency": "How many API requests may be in flight at once (default 8).",
    "api_requests_per_second": "The most API requests per second sent to your Luminate site (default 10).",
    "overnight_window_start": "The inbound sync from Luminate runs overnight, in your organization's time zone.",
    "overnight_window_end": "An inbound run still going at this time stops at a checkpoint and resumes next night.",
    "day_window_start": "New opt-ins and opt-outs are sent to Luminate during the day window.",
    "day_window_end": "End of the day window.",
    "outbound_interval_minutes": "How often opt-ins and opt-outs are sent to Luminate (default every 5 minutes).",
    "near_real_time": (
        "Beyond the five-minute schedule: send each opt-in or opt-out to Luminate within seconds of it "
        "happening, at any hour."
    ),
    "conflict_policy": "When a field changed on both sides: hold both values for you to resolve, or let one side win.",
    "take_values_from_file": "Read field values from the CSV file itself instead of asking the API for each record.",
    "expect_manifest": "Take a file only once its empty .manifest file is there (set when Luminate writes one).",
    "csv_delimiter": "How the columns of the file are separated; detect reads the header row.",
    "csv_encoding": "The character set of the file; detect tries UTF-8, then Windows-1252.",
    "file_server_fingerprint": (
        "Optional: the SHA-256 fingerprint of the FTPS or HTTPS server's certificate. When set, only that "
        "certificate is accepted."
    ),
    "allow_plain_http": "Use plain http for the API and the file (only for test sites on this network).",
}

MAIN_FIELDS = (
    "login_name",
    "login_password",
    "default_opt_in_path",
    "export_url",
    "file_name_pattern",
    "organization_code",
    "api_key",
    "api_host",
    "center_ids",
    "source_code",
    "no_welcome",
    "datasync_username",
    "datasync_password",
    "site_admin_username",
    "site_admin_password",
    "opt_in_field",
    "confirm_rename",
    "sync_type",
    "confirm_sms_consent",
    "notes",
)
ADVANCED_FIELDS = (
    "api_concurrency",
    "api_requests_per_second",
    "overnight_window_start",
    "overnight_window_end",
    "day_window_start",
    "day_window_end",
    "outbound_interval_minutes",
    "near_real_time",
    "conflict_policy",
    "take_values_from_file",
    "expect_manifest",
    "csv_delimiter",
    "csv_encoding",
    "file_server_fingerprint",
    "allow_plain_http",
)
# Confirmations the form asks for; they are not stored as settings.
CONFIRMATIONS = ("confirm_rename", "confirm_sms_consent")
MODEL_FIELDS = tuple(name for name in MAIN_FIELDS + ADVANCED_FIELDS if name not in CONFIRMATIONS)

CREDENTIALS_IN_URL = (
    "Do not put a user name or password in the URL: enter them under Data Sync user name and Data Sync "
    "password (an @ in a folder name is written %40)."
)
UNKNOWN_PATH = "%(value)r is not one of this organization's active web opt-in paths."


class WebPathChoiceField(forms.ModelChoiceField):
    """A web opt-in path; a stored one that was deactivated since is still listed, marked "(inactive)"."""

    def label_from_instance(self, obj) -> str:
        return str(obj) if obj.active else f"{obj} (inactive)"


def choosable_web_paths(organization, *, stored: Iterable[int | None]) -> QuerySet:
    """The organization's active web opt-in paths, plus the ``stored`` choices even if inactive now.

    A drop-down without its stored choice would submit none, so an unrelated save would silently drop it.
    """
    kept = [pk for pk in stored if pk]
    return OptInPath.objects.filter(organization=organization).filter(
        Q(kind=OptInPath.Kind.WEB, active=True) | Q(pk__in=kept)
    )


class CreateIntegrationForm(forms.Form):
    integration_type = forms.ChoiceField(label="Integration Type", choices=IntegrationType.choices)


class IntegrationForm(forms.ModelForm):
    """The configuration form. Secrets are never rendered back; a blank secret keeps the stored value."""

    confirm_sms_consent = forms.BooleanField(
        required=False, label="We hold SMS consent for every mobile number in Luminate"
    )
    confirm_rename = forms.BooleanField(
        required=False, label="I have checked the new Mobile opt-in Boolean field name"
    )
    # No length limit here, so a wrong value gets the message about what to enter instead of its length.
    no_welcome = forms.CharField(label="No_Welcome", required=False)

    class Meta:
        model = Integration
        fields = MODEL_FIELDS
        labels = {
            "login_name": "Login",
            "login_password": "Password",
            "default_opt_in_path": "Default web opt-in path",
            "export_url": "URL of the nightly CSV export file",
            "file_name_pattern": "File name pattern",
            "organization_code": "Organization code",
            "api_key": "API key",
            "api_host": "API host name",
            "center_ids": "Center IDs",
            "source_code": "Source code",
            "no_welcome": "No_Welcome",
            "datasync_username": "Data Sync user name",
            "datasync_password": "Data Sync password",
            "site_admin_username": "Site Admin user name",
            "site_admin_password": "Site Admin password",
            "opt_in_field": "Mobile opt-in Boolean field name",
            "sync_type": "Sync type",
            "notes": "Notes (internal use only)",
            "api_concurrency": "API concurrency",
            "api_requests_per_second": "API requests per second",
            "outbound_interval_minutes": "Outbound interval (minutes)",
            "near_real_time": "Near-real-time outbound",
            "take_values_from_file": "Take field values from the file",
            "expect_manifest": "Expect a manifest file",
            "csv_delimiter": "CSV delimiter",
            "csv_encoding": "CSV encoding",
            "file_server_fingerprint": "File server certificate fingerprint (SHA-256)",
            "allow_plain_http": "Allow plain http",
        }
        field_classes = {"default_opt_in_path": WebPathChoiceField}
        widgets = {
            "notes": forms.Textarea(attrs={"rows": 3}),
            "sync_type": forms.RadioSelect,
            "overnight_window_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "overnight_window_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "day_window_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "day_window_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, text in HELP.items():
            if name in self.fields:
                self.fields[name].help_text = text
        for name in SECRET_FIELDS:
            stored = bool(getattr(self.instance, name))
            self.fields[name] = forms.CharField(
                label=self.fields[name].label,
                required=False,
                help_text=self.fields[name].help_text,
                strip=False,
                widget=forms.PasswordInput(
                    render_value=False,
                    attrs={
                        "autocomplete": "new-password",
                        "placeholder": "stored; leave blank to keep it" if stored else "",
                    },
                ),
            )
            self.fields[name].secret_state = "set" if stored else "not set"
            label = self.fields[name].label
            self.fields[f"clear_{name}"] = forms.BooleanField(
                label="Clear",
                required=False,
                widget=forms.CheckboxInput(attrs={"aria-label": f"Clear {label}"}),
            )
        self.fields["default_opt_in_path"].queryset = choosable_web_paths(
            self.instance.organization, stored=[self.instance.default_opt_in_path_id]
        )
        self.fields["default_opt_in_path"].empty_label = "(none)"
        self.fields["default_opt_in_path"].error_messages["invalid_choice"] = UNKNOWN_PATH
        if not insecure_http_allowed():
            del self.fields["allow_plain_http"]

    def main_fields(self):
        return self._bound(MAIN_FIELDS)

    def advanced_fields(self):
        return self._bound(ADVANCED_FIELDS)

    def _bound(self, names) -> list[forms.BoundField]:
        """The bound fields of ``names``; a secret's carries its Clear box, as ``clear_field``."""
        bound = [self[name] for name in names if name in self.fields]
        for field in bound:
            if field.name in SECRET_FIELDS:
                field.clear_field = self[f"clear_{field.name}"]
        return bound

    def _forget(self, name: str) -> None:
        """Show ``name`` blank when the page comes back, since what was typed into it holds a password."""
        self.data = self.data.copy()
        self.data[self.add_prefix(name)] = ""

    def clean_api_host(self) -> str:
        value = self.cleaned_data["api_host"].strip()
        if not value:
            return value
        try:
            # Names are resolved when connecting; here only what the text itself says is checked, so a
            # host that is down for a moment can still be saved.
            return check_host(value, allow_private=private_hosts_allowed(), resolve=False)
        except EgressRefused as exc:
            if "@" in value:
                self._forget("api_host")
            raise forms.ValidationError(str(exc)) from None

    def clean_file_name_pattern(self) -> str:
        value = self.cleaned_data["file_name_pattern"].strip()
        try:
            FilePattern(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value

    def clean_organization_code(self) -> str:
        value = self.cleaned_data["organization_code"].strip()
        if value and not _ORG_CODE.fullmatch(value):
            raise forms.ValidationError(
                f"{value!r} is not an organization code: use only letters, digits, '-' and '_' "
                "(the short name in your Luminate URL)."
            )
        return value

    def clean_center_ids(self) -> str:
        parts = [part.strip() for part in self.cleaned_data["center_ids"].split(",")]
        bad = [part for part in parts if part and not (part.isascii() and part.isdigit())]
        if bad:
            raise forms.ValidationError(
                f"Center IDs must be whole numbers separated by commas; {', '.join(repr(b) for b in bad)} "
                f"{'is' if len(bad) == 1 else 'are'} not."
            )
        return ",".join(str(int(part)) for part in parts if part)

    def clean_no_welcome(self) -> str:
        value = self.cleaned_data["no_welcome"].strip()
        if value not in ("", "1"):
            raise forms.ValidationError(f"Enter 1 or leave the field blank, not {value!r}.")
        return value

    def clean_opt_in_field(self) -> str:
        value = self.cleaned_data["opt_in_field"].strip()
        error = luminate_field_name_error(value)
        if error:
            raise forms.ValidationError(error)
        return value

    def clean_api_concurrency(self) -> int:
        value = self.cleaned_data["api_concurrency"]
        if not 1 <= value <= 64:
            raise forms.ValidationError(f"Enter a number from 1 to 64, not {value}.")
        return value

    def clean_api_requests_per_second(self) -> float:
        value = self.cleaned_data["api_requests_per_second"]
        if not 0 < value <= 100:
            raise forms.ValidationError(f"Enter a number above 0 and at most 100, not {value:g}.")
        return value

    def clean_outbound_interval_minutes(self) -> int:
        value = self.cleaned_data["outbound_interval_minutes"]
        if not 1 <= value <= 1440:
            raise forms.ValidationError(f"Enter a number of minutes from 1 to 1440, not {value}.")
        return value

    def clean_file_server_fingerprint(self) -> str:
        value = self.cleaned_data["file_server_fingerprint"].strip()
        if value and not _FINGERPRINT.fullmatch(value.replace(":", "")):
            raise forms.ValidationError(
                "Enter the SHA-256 fingerprint as 64 hexadecimal digits, with or without colons "
                "(for example 7D:63:D3:...), or leave it blank."
            )
        return value.upper()

    def _export_url_error(self, url: str, plain: bool) -> str | None:
        """Why ``url`` cannot be the export file's URL, or None. A URL holding a login is also blanked on the
        page that comes back."""
        if "@" in url:
            # A user name and password typed into the URL (ftp://user:pass@host/). Any @ counts: a password
            # holding / ? or # would hide the login from a parser. Checked first, as the other messages
            # quote the URL.
            self._forget("export_url")
            return CREDENTIALS_IN_URL
        schemes = ("ftp", "ftps", "https", "http") if plain else ("ftp", "ftps", "https")
        try:
            check_url(url, schemes=schemes, allow_private=private_hosts_allowed(), resolve=False)
        except EgressRefused as exc:
            return str(exc)
        except ValueError:
            # urlsplit's own refusal, of an unbalanced "[" or "]" in the host.
            return (
                f"{url!r} is not a URL: enter it as ftps://host/folder/, such as "
                "ftps://customerftp.convio.net/export/."
            )
        return None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        url = (data.get("export_url") or "").strip()
        if url:
            error = self._export_url_error(
                url, bool(data.get("allow_plain_http")) and insecure_http_allowed()
            )
            if error:
                self.add_error("export_url", error)
            else:
                data["export_url"] = url
        start, end = data.get("day_window_start"), data.get("day_window_end")
        if start and end and start >= end:
            self.add_error("day_window_end", "The day window must end after it starts.")
        if data.get("overnight_window_start") and data.get("overnight_window_start") == data.get(
            "overnight_window_end"
        ):
            self.add_error(
                "overnight_window_end", "The overnight window must not start and end at the same time."
            )
        becomes_liberal = data.get("sync_type") == SyncType.LIBERAL and not self.instance.is_liberal
        if becomes_liberal and not data.get("confirm_sms_consent"):
            self.add_error(
                "confirm_sms_consent",
                "Liberal sync texts every mobile number in Luminate, whatever its opt-in status: tick this box "
                "to confirm that your organization holds SMS consent for all of them, or choose Conservative.",
            )
        # Before saving, the instance still holds the stored value (the model form copies the new ones after).
        stored, new = self.instance.opt_in_field, data.get("opt_in_field")
        if new and new != stored and not data.get("confirm_rename"):
            label = self.fields["opt_in_field"].label
            self.add_error(
                "confirm_rename", rename_confirmation_error([f"{label} from {stored!r} to {new!r}"])
            )
        self._check_cleared_secrets(data)
        return data

    def _check_cleared_secrets(self, data: dict[str, Any]) -> None:
        for name in SECRET_FIELDS:
            if not data.get(f"clear_{name}"):
                continue
            label = self.fields[name].label
            if data.get(name):
                self.add_error(name, f"Either enter a new {label} or tick Clear, not both.")
            elif name in API_SECRETS and self.instance.active:
                self.add_error(
                    name,
                    f"The {label} cannot be cleared while the integration is active: Luminate's API needs "
                    "it. Enter a new value instead, or deactivate the integration first.",
                )

    def settings_values(self) -> dict[str, Any]:
        """The model fields as cleaned, for :func:`lumisync.datasync.services.apply_settings`; a secret whose
        Clear box is ticked is :data:`~lumisync.datasync.services.CLEAR_SECRET`."""
        values = {name: self.cleaned_data[name] for name in MODEL_FIELDS if name in self.cleaned_data}
        for name in SECRET_FIELDS:
            if self.cleaned_data.get(f"clear_{name}"):
                values[name] = CLEAR_SECRET
        return values


def form_data(integration: Integration) -> dict[str, Any]:
    """The stored settings as form data (secrets left blank, so they are kept), for the command line."""
    data: dict[str, Any] = {}
    for name in MODEL_FIELDS:
        if name in SECRET_FIELDS:
            data[name] = ""
        elif name == "default_opt_in_path":
            data[name] = integration.default_opt_in_path_id or ""
        else:
            data[name] = getattr(integration, name)
    return data


class MappingsForm(forms.Form):
    """Edit Field Mappings: per row an API field name, a CSV heading and Required?."""

    confirm_rename = forms.BooleanField(
        required=False,
        label="I have checked the new names of Phone number, Email or Opt-in status",
        help_text="If one of these names is wrong, the whole sync fails. Test Connection checks the new names.",
    )

    def __init__(self, *args: Any, integration: Integration, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.integration = integration
        self.mappings: list[FieldMapping] = list(integration.field_mappings.all())
        for mapping in self.mappings:
            prefix = mapping.field
            label = label_of(mapping.field)
            self.fields[f"{prefix}-api"] = forms.CharField(
                label=f"{label}: API Field Name", required=False, max_length=100, initial=mapping.api_name
            )
            self.fields[f"{prefix}-csv"] = forms.CharField(
                label=f"{label}: CSV Heading", required=False, max_length=100, initial=mapping.csv_heading
            )
            self.fields[f"{prefix}-required"] = forms.BooleanField(
                label=f"{label}: Required?", required=False, initial=mapping.required
            )

    def rows(self):
        """For the template: each mapping with its three bound fields and the reason Required? is refused."""
        return [
            {
                "mapping": mapping,
                "label": label_of(mapping.field),
                "api": self[f"{mapping.field}-api"],
                "csv": self[f"{mapping.field}-csv"],
                "required": self[f"{mapping.field}-required"],
                "required_refused": REQUIRED_REFUSED.get(mapping.field, ""),
                "rename_confirm": mapping.field in RENAME_CONFIRM,
            }
            for mapping in self.mappings
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        renamed = []
        for mapping in self.mappings:
            field, label = mapping.field, label_of(mapping.field)
            api = (data.get(f"{field}-api") or "").strip()
            csv_heading = (data.get(f"{field}-csv") or "").strip()
            data[f"{field}-api"], data[f"{field}-csv"] = api, csv_heading
            if api:
                error = luminate_field_name_error(api)
                if error:
                    self.add_error(f"{field}-api", error)
            elif field in RENAME_CONFIRM or field == "constituent_id":
                self.add_error(f"{field}-api", f"{label} must have its Luminate API field name.")
            if data.get(f"{field}-required") and field in REQUIRED_REFUSED:
                self.add_error(
                    f"{field}-required", f"{label} cannot be marked Required: {REQUIRED_REFUSED[field]}."
                )
            if field in RENAME_CONFIRM and api and api != mapping.api_name:
                renamed.append(f"{label} from {mapping.api_name!r} to {api!r}")
        if renamed and not data.get("confirm_rename"):
            self.add_error("confirm_rename", rename_confirmation_error(renamed))
        donation_headings = [
            m.field for m in self.mappings if m.kind == MappingKind.DONATION and data.get(f"{m.field}-csv")
        ]
        if donation_headings and TRANSACTION_FIELD not in donation_headings:
            self.add_error(
                f"{TRANSACTION_FIELD}-csv",
                "Donations are read from the file only with their transaction ID, which records each gift "
                "once: enter its CSV heading, or clear the other donation headings.",
            )
        return data

    def changes(self) -> list[MappingChange]:
        return [
            MappingChange(
                field=m.field,
                api_field_name=self.cleaned_data[f"{m.field}-api"],
                csv_heading=self.cleaned_data[f"{m.field}-csv"],
                required=bool(self.cleaned_data[f"{m.field}-required"]),
            )
            for m in self.mappings
        ]


class GroupPathRowForm(forms.Form):
    group = forms.ChoiceField(label="Luminate group", required=False)
    opt_in_path = WebPathChoiceField(
        label="Web opt-in path",
        queryset=OptInPath.objects.none(),
        required=False,
        error_messages={"invalid_choice": UNKNOWN_PATH},
    )

    def __init__(self, *args: Any, groups: list[tuple[str, str]], paths, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["group"].choices = [("", "(choose a group)"), *groups]
        self.fields["opt_in_path"].queryset = paths
        self.fields["opt_in_path"].empty_label = "(choose a path)"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            # A refused group or path already says what is wrong; "choose both" would only mislead.
            return data
        if bool(data.get("group")) != bool(data.get("opt_in_path")):
            raise forms.ValidationError("Choose both a group and an opt-in path, or neither.")
        return data


class BaseGroupPathFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        seen: set[str] = set()
        for form in self.forms:
            if self.can_delete and self._should_delete_form(form):
                continue
            group = form.cleaned_data.get("group")
            if group and group in seen:
                raise forms.ValidationError(
                    f"The group {dict(form.fields['group'].choices)[group]!r} is listed twice; only its first row "
                    "would ever match."
                )
            if group:
                seen.add(group)

    def rows(self) -> list[GroupPath]:
        names = dict(self.forms[0].fields["group"].choices) if self.forms else {}
        chosen = []
        for form in self.ordered_forms if self.can_order else self.forms:
            if self.can_delete and self._should_delete_form(form):
                continue
            group = form.cleaned_data.get("group")
            if group:
                chosen.append(GroupPath(group, names.get(group, ""), form.cleaned_data["opt_in_path"].pk))
        return chosen


GroupPathFormSet = forms.formset_factory(
    GroupPathRowForm, formset=BaseGroupPathFormSet, extra=3, can_delete=True, can_order=True
)


class ActivationForm(forms.Form):
    """The first activation's two questions."""

    YES_NO = [("yes", "Yes"), ("no", "No")]

    initial_load = forms.ChoiceField(
        label="Run an initial load from a full export file now?", choices=YES_NO, widget=forms.RadioSelect
    )
    export_earlier_opt_ins = forms.ChoiceField(
        label="Send this platform's earlier opt-ins to Luminate?", choices=YES_NO, widget=forms.RadioSelect
    )

    def answers(self) -> dict[str, bool]:
        return {name: self.cleaned_data[name] == "yes" for name in ("initial_load", "export_earlier_opt_ins")}


class TryConstituentForm(forms.Form):
    constituent = forms.CharField(
        label="Constituent ID or email",
        max_length=255,
        help_text="Shows what the inbound sync would do with this one Luminate record; nothing is written.",
    )

    def clean_constituent(self) -> str:
        value = self.cleaned_data["constituent"].strip()
        if "@" in value:
            forms.EmailField().clean(value)
        elif not value.isdigit():
            raise forms.ValidationError(
                f"“{value}” is neither a constituent ID (digits only) nor an email address."
            )
        return value
