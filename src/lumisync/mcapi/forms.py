"""Administrators' forms: API keys, web opt-in settings and the donation-form snippet."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from django import forms

from lumisync.mcapi.models import DonationFormSnippet, WebSettings
from lumisync.subscribers.models import OptInPath

ELEMENT_ID = re.compile(r"^[A-Za-z][\w:.\-]{0,99}$")
FORM_MAP_KEY = re.compile(r"^(phone|profile_[a-z0-9_]{1,60})$")
GIFT_MAP_KEYS = ("transaction_id", "amount", "form_id", "level_id")
HOST = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?)*$"
)


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use the key, e.g. “nightly export”.")


class WebSettingsForm(forms.ModelForm):
    class Meta:
        model = WebSettings
        fields = ["allowed_redirect_hosts", "allowed_origins"]
        widgets = {
            "allowed_redirect_hosts": forms.Textarea(attrs={"rows": 4}),
            "allowed_origins": forms.Textarea(attrs={"rows": 4}),
        }

    def clean_allowed_redirect_hosts(self):
        lines = [line.strip().lower() for line in self.cleaned_data["allowed_redirect_hosts"].splitlines()]
        for line in filter(None, lines):
            if not HOST.match(line):
                raise forms.ValidationError(
                    f"{line!r} is not a host name (write www.example.org, no https://)."
                )
        return "\n".join(filter(None, lines))

    def clean_allowed_origins(self):
        lines = [
            line.strip().rstrip("/").lower() for line in self.cleaned_data["allowed_origins"].splitlines()
        ]
        for line in filter(None, lines):
            parts = urlsplit(line)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
                raise forms.ValidationError(
                    f"{line!r} is not an origin (write the scheme and host, e.g. https://secure.example.org)."
                )
        return "\n".join(filter(None, lines))


class JsonMapField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 12, "spellcheck": "false"})

    def prepare_value(self, value):
        return json.dumps(value, indent=1, sort_keys=True) if isinstance(value, dict) else value

    def to_python(self, value):
        text = super().to_python(value)
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"This is not JSON ({exc.msg} at line {exc.lineno}).") from None
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            raise forms.ValidationError(
                'Write an object of names to element ids, e.g. {"phone": "donor_phonename"}.'
            )
        for name, element_id in parsed.items():
            if not ELEMENT_ID.match(element_id):
                raise forms.ValidationError(f"{name}: {element_id!r} is not an HTML element id.")
        return parsed


class DonationSnippetForm(forms.ModelForm):
    form_map = JsonMapField(
        label="Form map (convio_form_map)",
        help_text="Our field → id of the element on your Luminate donation form; “phone” is required.",
    )
    gift_map = JsonMapField(
        label="Thank-you page map",
        help_text=f"Gift detail ({', '.join(GIFT_MAP_KEYS)}) → id of the element showing it; transaction_id is required.",
    )

    class Meta:
        model = DonationFormSnippet
        fields = ["opt_in_path", "checkbox_id", "consent_wording", "form_map", "gift_map"]
        widgets = {"consent_wording": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["opt_in_path"].queryset = OptInPath.objects.filter(
            organization=self.instance.organization, active=True
        ).select_related("campaign")
        self.fields["opt_in_path"].required = True

    def clean_checkbox_id(self):
        value = self.cleaned_data["checkbox_id"].strip()
        if not ELEMENT_ID.match(value):
            raise forms.ValidationError(f"{value!r} is not an HTML element id.")
        return value

    def clean_form_map(self):
        value = self.cleaned_data["form_map"]
        for name in value:
            if not FORM_MAP_KEY.match(name):
                raise forms.ValidationError(f"{name!r} is not “phone” or a “profile_…” field name.")
        if "phone" not in value:
            raise forms.ValidationError("The map needs “phone”: the id of the donor's mobile number field.")
        return value

    def clean_gift_map(self):
        value = self.cleaned_data["gift_map"]
        unknown = sorted(set(value) - set(GIFT_MAP_KEYS))
        if unknown:
            raise forms.ValidationError(f"{unknown[0]!r} is not one of {', '.join(GIFT_MAP_KEYS)}.")
        if "transaction_id" not in value:
            raise forms.ValidationError("The map needs transaction_id (Luminate's confirmation code).")
        return value
