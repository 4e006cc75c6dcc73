"""The two-part snippet an organization pastes into its Luminate donation form and thank-you page."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urljoin

from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import escape

from lumisync.mcapi.models import DonationFormSnippet

SCRIPT_PATH = "mcapi/luminate-donation.js"


def json_for_script(value) -> str:
    """JSON that cannot close the <script> element it sits in."""
    text = json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@dataclass(frozen=True)
class SnippetParts:
    form_page: str
    thank_you_page: str


def render_snippet(snippet: DonationFormSnippet, base_url: str, *, script_url: str = "") -> SnippetParts:
    """Both parts for ``snippet``, pointing at the platform at ``base_url``."""
    script = script_url or urljoin(base_url, static(SCRIPT_PATH))
    path = snippet.opt_in_path
    form_config = {
        "endpoint": urljoin(base_url, reverse("mcapi:join")),
        "snippetKey": snippet.key,
        "optInPath": path.public_key if path else "",
        "checkboxId": snippet.checkbox_id,
        "consentWording": snippet.consent_wording,
    }
    receipt_config = {
        "endpoint": urljoin(base_url, reverse("mcapi:donation")),
        "snippetKey": snippet.key,
        "giftMap": snippet.gift_map,
    }
    checkbox = escape(snippet.checkbox_id)
    form_page = (
        "<!-- SMS opt-in: place the checkbox where donors see it, the scripts before </body>. -->\n"
        f'<p class="sms-opt-in"><input type="checkbox" id="{checkbox}" name="{checkbox}" value="yes">\n'
        f'<label for="{checkbox}">{escape(snippet.consent_wording)}</label></p>\n'
        "<script>\n"
        f"var convio_form_map = {json_for_script(snippet.form_map)};\n"
        f"window.lumisyncDonationForm = {json_for_script(form_config)};\n"
        "window.lumisyncDonationForm.formMap = convio_form_map;\n"
        "</script>\n"
        f'<script src="{escape(script)}" async></script>\n'
    )
    thank_you_page = (
        "<!-- Records the completed gift; place before </body> of the donation thank-you page. -->\n"
        "<script>\n"
        f"window.lumisyncDonationReceipt = {json_for_script(receipt_config)};\n"
        "</script>\n"
        f'<script src="{escape(script)}" async></script>\n'
    )
    return SnippetParts(form_page, thank_you_page)
