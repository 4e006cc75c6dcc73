"""Administrators' pages: API keys, web opt-in settings, the donation-form snippet; the key command."""

from __future__ import annotations

import html
import io
import json
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from lumisync.accounts.models import Role
from lumisync.mcapi.models import (
    DEFAULT_CONVIO_FORM_MAP,
    ApiKey,
    DonationFormSnippet,
    WebSettings,
    digest_token,
)
from lumisync.subscribers.models import Campaign, OptInPath

pytestmark = pytest.mark.django_db


def test_create_key_shows_it_once_and_stores_its_digest(admin_client, organization):
    response = admin_client.post("/api-keys/", {"name": "warehouse export"})
    token = re.search(r'<code id="new-api-key">(lsk_[^<]+)</code>', response.content.decode()).group(1)
    key = ApiKey.objects.get(name="warehouse export")
    assert key.organization == organization and key.digest == digest_token(token)
    again = admin_client.get("/api-keys/")
    assert token not in again.content.decode()
    assert f"{key.prefix}…" in again.content.decode()
    assert admin_client.get("/api/campaigns", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_revoke_key(admin_client, organization, token):
    key = ApiKey.objects.get(organization=organization)
    admin_client.post(f"/api-keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert admin_client.get("/api/campaigns", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_another_organizations_key_cannot_be_revoked(admin_client, other_organization, other_token):
    key = ApiKey.objects.get(organization=other_organization)
    assert admin_client.post(f"/api-keys/{key.pk}/revoke/").status_code == 404
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_staff_cannot_open_the_pages(client, make_user, organization):
    client.force_login(make_user(organization, role=Role.STAFF))
    for url in ("/api-keys/", "/donation-forms/", "/web-opt-in/"):
        assert client.get(url).status_code == 403


def test_management_command_creates_lists_and_revokes(organization):
    out = io.StringIO()
    call_command("api-keys", "create", organization.slug, "--name", "cron", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    key = ApiKey.objects.get(digest=digest_token(token))
    listing = io.StringIO()
    call_command("api-keys", "list", organization.slug, stdout=listing)
    assert key.prefix in listing.getvalue() and token not in listing.getvalue()
    call_command("api-keys", "revoke", organization.slug, key.prefix, stdout=io.StringIO())
    key.refresh_from_db()
    assert key.revoked_at is not None
    with pytest.raises(CommandError, match="'nowhere'"):
        call_command("api-keys", "list", "nowhere")


def test_snippet_page_offers_the_seed_map_by_default(admin_client, organization):
    page = admin_client.get("/donation-forms/").content.decode()

    offered = re.search(r'<textarea name="form_map"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    assert json.loads(html.unescape(offered)) == DEFAULT_CONVIO_FORM_MAP
    assert DonationFormSnippet.objects.get(organization=organization).form_map == DEFAULT_CONVIO_FORM_MAP


def test_snippet_page_shows_both_parts_with_the_wording_escaped(admin_client, organization, path):
    admin_client.post(
        "/donation-forms/",
        {
            "opt_in_path": path.pk,
            "checkbox_id": "sms_opt_in",
            "consent_wording": "Text me <rivers> news.",
            "form_map": json.dumps(DEFAULT_CONVIO_FORM_MAP),
            "gift_map": json.dumps({"transaction_id": "confirmation_code"}),
        },
    )
    snippet = DonationFormSnippet.objects.get(organization=organization)
    page = admin_client.get("/donation-forms/").content.decode()
    assert '"phone": "donor_phonename"' in page or "&quot;phone&quot;: &quot;donor_phonename&quot;" in page
    assert snippet.key in page and path.public_key in page
    assert "/static/mcapi/luminate-donation.js" in page
    assert "/profiles/join" in page and "/profiles/donation" in page
    # The wording is escaped in the checkbox label and cannot end the script element.
    assert "Text me &amp;lt;rivers&amp;gt; news." in page
    assert "<rivers>" not in page


def test_snippet_map_is_editable_and_checked(admin_client, organization, path):
    edited = {**DEFAULT_CONVIO_FORM_MAP, "phone": "mobile_phone"}
    admin_client.post(
        "/donation-forms/",
        {
            "opt_in_path": path.pk,
            "checkbox_id": "sms_box",
            "consent_wording": "Yes, text me.",
            "form_map": json.dumps(edited),
            "gift_map": json.dumps({"transaction_id": "code"}),
        },
    )
    snippet = DonationFormSnippet.objects.get(organization=organization)
    assert snippet.form_map["phone"] == "mobile_phone" and snippet.checkbox_id == "sms_box"

    refused = admin_client.post(
        "/donation-forms/",
        {
            "opt_in_path": path.pk,
            "checkbox_id": "sms box",
            "consent_wording": "Yes.",
            "form_map": json.dumps({"profile_email": "email"}),
            "gift_map": "{not json",
        },
    ).content.decode()
    assert "&#x27;sms box&#x27; is not an HTML element id" in refused
    assert "The map needs “phone”" in refused
    assert "This is not JSON" in refused
    snippet.refresh_from_db()
    assert snippet.checkbox_id == "sms_box"


def test_snippet_page_offers_only_this_organizations_paths(admin_client, other_organization):
    theirs = OptInPath.objects.create(
        organization=other_organization,
        campaign=Campaign.objects.create(organization=other_organization, name="Air"),
        name="Theirs",
    )
    response = admin_client.post(
        "/donation-forms/",
        {
            "opt_in_path": theirs.pk,
            "checkbox_id": "x",
            "consent_wording": "y",
            "form_map": '{"phone": "p"}',
            "gift_map": '{"transaction_id": "t"}',
        },
    )
    assert "Select a valid choice" in response.content.decode()


def test_web_settings_page(admin_client, organization):
    admin_client.post(
        "/web-opt-in/",
        {"allowed_redirect_hosts": "WWW.Example.org\n\n", "allowed_origins": "https://secure.example.org/"},
    )
    settings_row = WebSettings.objects.get(organization=organization)
    assert settings_row.redirect_hosts == ["www.example.org"]
    assert settings_row.origins == ["https://secure.example.org"]
    refused = admin_client.post(
        "/web-opt-in/",
        {"allowed_redirect_hosts": "https://x.org/path", "allowed_origins": "secure.example.org"},
    ).content.decode()
    assert "&#x27;https://x.org/path&#x27; is not a host name" in refused
    assert "&#x27;secure.example.org&#x27; is not an origin" in refused
