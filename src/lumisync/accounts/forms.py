"""Sign-in, organization switching and organization settings forms."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone

from lumisync.accounts import throttling
from lumisync.accounts.models import Organization


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's sign-in form behind the cool-off of :mod:`lumisync.accounts.throttling`."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "cooling_off": (
            "Too many failed sign-in attempts for this username or from this address. "
            "Try again after %(until)s UTC (in about %(minutes)s minutes)."
        ),
    }

    def clean(self):
        username = self.cleaned_data.get("username", "")
        address = throttling.client_address(self.request)
        until = throttling.cooling_off_until(username, address)
        if until is not None:
            minutes = max(1, round((until - timezone.now()).total_seconds() / 60))
            raise forms.ValidationError(
                self.error_messages["cooling_off"],
                code="cooling_off",
                params={"until": f"{until:%H:%M}", "minutes": minutes},
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError as error:
            if error.code in ("invalid_login", "inactive"):
                throttling.record_failure(username, address)
            raise
        if self.get_user() is not None:
            throttling.clear_failures(username)
        return cleaned


class OrganizationSettingsForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["name", "time_zone", "phone_region", "sending_window_start", "sending_window_end"]
        widgets = {
            "sending_window_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "sending_window_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def clean_phone_region(self):
        return self.cleaned_data["phone_region"].upper()

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("sending_window_start"), cleaned.get("sending_window_end")
        if start and end and start >= end:
            self.add_error(
                "sending_window_end",
                f"Sending window end {end:%H:%M} must be later than its start {start:%H:%M}.",
            )
        return cleaned
