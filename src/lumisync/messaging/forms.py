"""The SMS provider settings form and the test message form."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django import forms
from django.conf import settings

from lumisync.luminate.egress import EgressRefused, check_url
from lumisync.messaging.models import ProviderAccount
from lumisync.subscribers.phones import InvalidPhoneNumber, normalize_phone

# The SID goes into the request path, so nothing that could change the path is accepted.
_ACCOUNT_SID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def provider_url_schemes() -> tuple[str, ...]:
    # Plain http only where private hosts are allowed too: a provider stand-in on a test or development site.
    return ("https", "http") if settings.LUMISYNC_ALLOW_PRIVATE_HOSTS else ("https",)


def number_taken_message(number: str) -> str:
    return (
        f"{number} is already the sending number of another organization. Incoming texts find their "
        "organization by the number they were sent to, so each number can belong to one organization only."
    )


class ProviderAccountForm(forms.ModelForm):
    """The auth token is never rendered back; a blank one keeps the stored token."""

    auth_token = forms.CharField(
        label="Auth token",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = ProviderAccount
        fields = ["base_url", "account_sid", "auth_token", "from_number"]
        labels = {
            "base_url": "API base URL",
            "account_sid": "Account SID",
            "from_number": "Sending number",
        }
        help_texts = {
            "base_url": "The provider's API root: https://api.twilio.com for Twilio, or a compatible provider's.",
            "account_sid": "The account identifier the provider shows next to the auth token.",
            "from_number": "The number texts are sent from and incoming texts arrive at, "
            "with its country code, such as +12025550123.",
        }
        # A plain text field: the URL check below says what is wrong, where a URL field only says "invalid".
        field_classes = {"base_url": forms.CharField}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stored_token = bool(self.instance.auth_token)
        self.token_replaced = False
        token = self.fields["auth_token"]
        token.secret_state = "set" if self.stored_token else "not set"
        token.widget.attrs["placeholder"] = token.secret_state
        token.help_text = (
            "Stored and never shown. Leave blank to keep it; type a new one to replace it."
            if self.stored_token
            else "Found next to the Account SID in the provider's console."
        )

    def clean_base_url(self) -> str:
        value = self.cleaned_data["base_url"].strip()
        parts = urlsplit(value)
        if "@" in parts.netloc:
            # The user part may hold the token: it is neither quoted nor shown back in the form.
            host = parts.netloc.rpartition("@")[2]
            self.data = self.data.copy()
            self.data[self.add_prefix("base_url")] = parts._replace(netloc=host).geturl()
            raise forms.ValidationError(
                f"The URL for {host!r} contains a user name or password; enter the URL alone "
                "and the credentials in Account SID and Auth token."
            )
        allow_private = settings.LUMISYNC_ALLOW_PRIVATE_HOSTS
        try:
            # Names are resolved when sending; here only what the text says is checked, so a provider that
            # is down for a moment can still be saved.
            check_url(value, schemes=provider_url_schemes(), allow_private=allow_private, resolve=False)
        except EgressRefused as exc:
            raise forms.ValidationError(str(exc)) from None
        if parts.query or parts.fragment:
            raise forms.ValidationError(
                f"{value!r} has a query or fragment; enter only the API root, such as https://api.twilio.com."
            )
        return value.rstrip("/")

    def clean_account_sid(self) -> str:
        value = self.cleaned_data["account_sid"].strip()
        if not _ACCOUNT_SID.fullmatch(value):
            raise forms.ValidationError(
                f"{value!r} is not an account SID: use only letters, digits, '-' and '_' (at most 64)."
            )
        return value

    def clean_auth_token(self):
        value = self.cleaned_data["auth_token"].strip()
        self.token_replaced = bool(value)
        if value:
            return value
        if self.stored_token:
            return self.instance.auth_token
        # No value to quote: the field is empty, and a token would never be quoted anyway.
        raise forms.ValidationError("Enter the auth token: none is stored yet.")

    def clean_from_number(self) -> str:
        raw = self.cleaned_data["from_number"]
        region = self.instance.organization.phone_region
        try:
            number = normalize_phone(raw, region)
        except InvalidPhoneNumber as exc:
            raise forms.ValidationError(str(exc)) from None
        taken = ProviderAccount.objects.filter(from_number=number).exclude(
            organization=self.instance.organization
        )
        if taken.exists():
            raise forms.ValidationError(number_taken_message(number))
        return number


class TestMessageForm(forms.Form):
    phone_number = forms.CharField(
        label="Send a test message to",
        max_length=40,
        help_text="A mobile number you can check, such as your own.",
    )

    def __init__(self, *args, region: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.region = region

    def clean_phone_number(self) -> str:
        try:
            return normalize_phone(self.cleaned_data["phone_number"], self.region)
        except InvalidPhoneNumber as exc:
            raise forms.ValidationError(str(exc)) from None
