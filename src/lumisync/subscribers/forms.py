"""Admin forms for campaigns and opt-in paths, always bound to one organization."""

from __future__ import annotations

import re

from django import forms

from lumisync.messaging.services import MAX_BODY_LENGTH
from lumisync.subscribers.inbound import RESERVED_WORDS
from lumisync.subscribers.models import Campaign, OptInPath

KEYWORD_PATTERN = re.compile(r"^[A-Z0-9]+$")


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["name", "description", "active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.organization = organization

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        taken = Campaign.objects.filter(organization=self.instance.organization, name__iexact=name)
        if taken.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(f"A campaign named {name!r} already exists in this organization.")
        return name


class OptInPathForm(forms.ModelForm):
    class Meta:
        model = OptInPath
        fields = ["campaign", "name", "kind", "keyword", "welcome_message", "confirmation_prompt", "active"]
        widgets = {
            "welcome_message": forms.Textarea(attrs={"rows": 4}),
            "confirmation_prompt": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.organization = organization
        campaign = self.fields["campaign"]
        campaign.queryset = Campaign.objects.filter(organization=organization)
        campaign.error_messages["invalid_choice"] = "%(value)r is not one of this organization's campaigns."

    def clean_keyword(self):
        keyword = self.cleaned_data["keyword"].strip().upper()
        if keyword and not KEYWORD_PATTERN.match(keyword):
            raise forms.ValidationError(
                f"{keyword!r} is not a keyword: use one word of letters and digits, without spaces."
            )
        if keyword in RESERVED_WORDS:
            raise forms.ValidationError(
                f"{keyword!r} is reserved: texts of STOP, START, HELP and YES words are answered by the "
                "platform itself, so a keyword path with it would never be reached."
            )
        return keyword

    # Each opt-in through the path queues these as a text, which the outbox refuses over the length limit.
    def clean_welcome_message(self):
        return _within_text_limit("Welcome message", self.cleaned_data["welcome_message"])

    def clean_confirmation_prompt(self):
        return _within_text_limit("Confirmation prompt", self.cleaned_data["confirmation_prompt"])

    def clean(self):
        cleaned = super().clean()
        kind, keyword = cleaned.get("kind"), cleaned.get("keyword", "")
        if kind == OptInPath.Kind.KEYWORD and not keyword and "keyword" not in self.errors:
            self.add_error("keyword", "A keyword path needs the keyword people text in.")
        elif kind == OptInPath.Kind.WEB and keyword:
            self.add_error(
                "keyword", f"Keyword {keyword!r} is only for keyword paths; clear it or choose Keyword."
            )
        elif keyword:
            taken = OptInPath.objects.filter(organization=self.instance.organization, keyword__iexact=keyword)
            other = taken.exclude(pk=self.instance.pk).select_related("campaign").first()
            if other is not None:
                self.add_error("keyword", f"Keyword {keyword!r} is already used by the opt-in path {other}.")
        return cleaned


def _within_text_limit(label: str, text: str) -> str:
    if len(text) > MAX_BODY_LENGTH:
        # The form's error list shows the start of the value entered beside this.
        raise forms.ValidationError(
            f"{label} is {len(text)} characters, over the limit of {MAX_BODY_LENGTH} for one text."
        )
    return text
