"""Validation of the configuration and mapping forms: each error names the field and the fix."""

from __future__ import annotations

import pytest
from datasync_testing import SECRET_VALUES

from lumisync.datasync import services
from lumisync.datasync.forms import CREDENTIALS_IN_URL, IntegrationForm, MappingsForm, form_data
from lumisync.datasync.models import OPT_IN_FIELD, Integration, SyncType
from lumisync.subscribers.models import OptInPath

TYPED_PASSWORD = "TopSecretPw"


def _form(integration, **changes):
    data = form_data(integration)
    data.update(changes)
    return IntegrationForm(data, instance=integration)


def _error(integration, field, **changes) -> str:
    form = _form(integration, **changes)
    assert not form.is_valid()
    assert field in form.errors, form.errors
    return " ".join(form.errors[field])


def test_stored_settings_are_valid_as_they_are(integration):
    assert _form(integration).is_valid()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://secure2.convio.net", "includes a scheme: enter only the host name"),
        ("secure2.convio.net/site/SRConsAPI", "includes a path: enter only the host name"),
        ("secure2 .convio.net", "contains a space: enter only the host name"),
        ("secure2.convio.net:abc", "optionally with ':' and a port number"),
        ("secure2.convio.net:99999", "optionally with ':' and a port number"),
    ],
)
def test_api_host_must_be_a_bare_host(integration, value, expected):
    assert expected in _error(integration, "api_host", api_host=value)


def test_api_host_with_a_port_number_is_accepted(integration):
    form = _form(integration, api_host="secure2.convio.net:8443")
    assert form.is_valid() and form.settings_values()["api_host"] == "secure2.convio.net:8443"


@pytest.mark.parametrize(
    "value",
    [f"rivers:{TYPED_PASSWORD}@secure2.convio.net", f"https://rivers:{TYPED_PASSWORD}@secure2.convio.net"],
)
def test_a_login_in_the_api_host_is_refused_and_never_shown_back(integration, value):
    form = _form(integration, api_host=value)
    message = _error(integration, "api_host", api_host=value)
    assert "includes a user name or password" in message and TYPED_PASSWORD not in message
    assert not form.is_valid() and TYPED_PASSWORD not in str(form)


def test_api_host_is_stored_lower_case(integration):
    form = _form(integration, api_host="Secure2.Convio.NET")
    assert form.is_valid() and form.settings_values()["api_host"] == "secure2.convio.net"


def test_private_addresses_are_refused_unless_the_operator_allows_them(integration, settings):
    settings.LUMISYNC_ALLOW_PRIVATE_HOSTS = False
    assert "private or local address" in _error(integration, "api_host", api_host="10.1.2.3")
    assert "this server itself" in _error(integration, "export_url", export_url="ftp://localhost/export/")
    settings.LUMISYNC_ALLOW_PRIVATE_HOSTS = True
    assert _form(integration, api_host="10.1.2.3", export_url="ftp://localhost/export/").is_valid()


@pytest.mark.parametrize(
    "url", ["sftp://customerftp.convio.net/", "file:///etc/passwd", "customerftp.convio.net"]
)
def test_export_url_scheme_must_be_allowed(integration, url):
    message = _error(integration, "export_url", export_url=url)
    assert "allowed: ftp://, ftps://, https://" in message


@pytest.mark.parametrize(
    "url",
    [
        f"ftps://rivers:{TYPED_PASSWORD}@customerftp.convio.net/export/",
        f"ftp://rivers:{TYPED_PASSWORD}@customerftp.convio.net",
        f"sftp://rivers:{TYPED_PASSWORD}@customerftp.convio.net/export/",
        f"rivers:{TYPED_PASSWORD}@customerftp.convio.net/export/",
        "ftp://rivers@customerftp.convio.net/export/",
        "ftps://rivers:Top#Secret@customerftp.convio.net/export/",
        "ftps://rivers:Top?Secret@customerftp.convio.net/export/",
        "ftps://rivers:12/Secret@customerftp.convio.net/export/",
    ],
)
def test_a_login_in_the_export_url_is_refused_and_never_shown_back(integration, url):
    form = _form(integration, export_url=url)
    assert not form.is_valid()
    assert form.errors["export_url"] == [CREDENTIALS_IN_URL]
    assert TYPED_PASSWORD not in str(form) and "Secret" not in str(form)
    assert "rivers" not in str(form["export_url"])


def test_an_at_sign_in_a_folder_name_is_written_encoded(integration):
    assert _form(integration, export_url="ftps://customerftp.convio.net/exports%40rivers/").is_valid()
    assert not _form(integration, export_url="ftps://customerftp.convio.net/exports@rivers/").is_valid()


def test_an_export_url_urlsplit_cannot_read_is_refused_by_name(integration):
    assert "is not a URL: enter it as ftps://host/folder/" in _error(
        integration, "export_url", export_url="ftps://[customerftp.convio.net/export/"
    )


def test_plain_http_needs_the_operator_and_the_integration(integration, settings):
    settings.LUMISYNC_ALLOW_INSECURE_HTTP = True
    message = _error(integration, "export_url", export_url="http://files.example.org/a.csv")
    assert message.endswith("allowed: ftp://, ftps://, https://.")
    assert _form(integration, export_url="http://files.example.org/a.csv", allow_plain_http=True).is_valid()
    settings.LUMISYNC_ALLOW_INSECURE_HTTP = False
    form = _form(integration, export_url="http://files.example.org/a.csv", allow_plain_http=True)
    assert "allow_plain_http" not in form.fields
    assert not form.is_valid() and "export_url" in form.errors


@pytest.mark.parametrize(("value", "cleaned"), [("", ""), ("12, 7,3", "12,7,3"), ("0042", "42"), ("5,", "5")])
def test_center_ids_accept_a_comma_list_of_integers(integration, value, cleaned):
    form = _form(integration, center_ids=value)
    assert form.is_valid(), form.errors
    assert form.settings_values()["center_ids"] == cleaned


def test_center_ids_that_are_not_integers_are_named(integration):
    message = _error(integration, "center_ids", center_ids="12, main, 3.5")
    assert "'main', '3.5' are not" in message and "whole numbers separated by commas" in message


@pytest.mark.parametrize("value", ["Custom Boolean 50", "custom-boolean50", "50custom", "name..first"])
def test_opt_in_field_must_be_a_luminate_field_name(integration, value):
    message = _error(integration, "opt_in_field", opt_in_field=value)
    assert repr(value) in message and "not a Luminate field name" in message


def test_no_welcome_is_blank_or_one(integration):
    assert "Enter 1 or leave the field blank" in _error(integration, "no_welcome", no_welcome="yes")
    assert _form(integration, no_welcome="1").is_valid()


def test_file_name_pattern_needs_a_date_token(integration):
    assert "needs a date token" in _error(
        integration, "file_name_pattern", file_name_pattern="{org}_changes.csv"
    )


def test_fingerprint_is_64_hex_digits(integration):
    assert "64 hexadecimal digits" in _error(
        integration, "file_server_fingerprint", file_server_fingerprint="abc"
    )
    form = _form(integration, file_server_fingerprint=":".join(["ab"] * 32))
    assert form.is_valid() and form.settings_values()["file_server_fingerprint"] == ":".join(["AB"] * 32)


def test_advanced_limits(integration):
    assert "from 1 to 64" in _error(integration, "api_concurrency", api_concurrency=0)
    assert "above 0" in _error(integration, "api_requests_per_second", api_requests_per_second=0)
    assert "must end after it starts" in _error(
        integration, "day_window_end", day_window_start="22:00", day_window_end="06:00"
    )


def test_renaming_the_opt_in_field_needs_confirmation(integration):
    message = _error(integration, "confirm_rename", opt_in_field="custom_boolean12")
    assert (
        "You renamed Mobile opt-in Boolean field name from 'custom_boolean50' to 'custom_boolean12'"
        in message
    )
    assert "Test Connection" in message
    form = _form(integration, opt_in_field="custom_boolean12", confirm_rename=True)
    assert form.is_valid() and form.settings_values()["opt_in_field"] == "custom_boolean12"
    # Keeping the name asks nothing, and the confirmation is no setting.
    form = _form(integration, notes="x")
    assert form.is_valid() and "confirm_rename" not in form.settings_values()


def test_a_deactivated_default_path_stays_chosen_and_is_marked_inactive(integration, actor, web_path):
    services.apply_settings(integration, {"default_opt_in_path": web_path}, actor)
    OptInPath.objects.filter(pk=web_path.pk).update(active=False)
    integration.refresh_from_db()
    html = str(IntegrationForm(instance=integration)["default_opt_in_path"])
    assert (
        f'<option value="{web_path.pk}" selected>Luminate sign-ups (River Alerts) (inactive)</option>' in html
    )
    form = _form(integration, notes="an unrelated change")
    assert form.is_valid(), form.errors
    assert form.settings_values()["default_opt_in_path"] == web_path
    # Another inactive path cannot be chosen.
    other = OptInPath.objects.create(
        organization=integration.organization, campaign=web_path.campaign, name="Old form", active=False
    )
    assert "active web opt-in paths" in _error(
        integration, "default_opt_in_path", default_opt_in_path=other.pk
    )


def test_a_ticked_clear_box_clears_the_secret(integration, actor):
    services.apply_settings(integration, dict(SECRET_VALUES), actor)
    integration.refresh_from_db()
    assert 'aria-label="Clear Site Admin password"' in str(IntegrationForm(instance=integration))
    form = _form(integration, clear_site_admin_password=True)
    assert form.is_valid(), form.errors
    values = form.settings_values()
    assert values["site_admin_password"] is services.CLEAR_SECRET and values["api_key"] == ""


def test_clear_and_a_new_value_together_are_refused(integration):
    message = _error(integration, "datasync_password", datasync_password="new", clear_datasync_password=True)
    assert message == "Either enter a new Data Sync password or tick Clear, not both."


@pytest.mark.parametrize(("name", "label"), [("login_password", "Password"), ("api_key", "API key")])
def test_the_api_secrets_cannot_be_cleared_while_active(integration, name, label):
    assert _form(integration, **{f"clear_{name}": True}).is_valid()
    Integration.objects.filter(pk=integration.pk).update(active=True)
    integration.refresh_from_db()
    message = _error(integration, name, **{f"clear_{name}": True})
    assert message.startswith(f"The {label} cannot be cleared while the integration is active")
    assert "deactivate the integration first" in message
    # The optional ones can.
    assert _form(integration, clear_site_admin_password=True, clear_datasync_password=True).is_valid()


def test_liberal_asks_for_the_consent_confirmation(integration):
    assert "SMS consent" in _error(integration, "confirm_sms_consent", sync_type=SyncType.LIBERAL)
    assert _form(integration, sync_type=SyncType.LIBERAL, confirm_sms_consent=True).is_valid()


def test_secrets_are_never_rendered_back(integration, actor):
    services.apply_settings(integration, dict(SECRET_VALUES), actor)
    integration.refresh_from_db()
    html = str(IntegrationForm(instance=integration))
    for value in SECRET_VALUES.values():
        assert value not in html
    assert 'placeholder="stored; leave blank to keep it"' in html
    # A blank secret in a submitted form keeps the stored value.
    form = _form(integration)
    assert form.is_valid() and form.settings_values()["api_key"] == ""


def _mapping_data(integration, **changes):
    data = {}
    for mapping in integration.field_mappings.all():
        data[f"{mapping.field}-api"] = mapping.api_name
        data[f"{mapping.field}-csv"] = mapping.csv_heading
        data[f"{mapping.field}-required"] = mapping.required
    data.update(changes)
    return MappingsForm(data, integration=integration)


def test_mappings_as_seeded_are_valid_and_come_back_unchanged(integration):
    form = _mapping_data(integration)
    assert form.is_valid(), form.errors
    assert form.changes() == [
        services.MappingChange(m.field, m.api_name, m.csv_heading, m.required)
        for m in integration.field_mappings.all()
    ]


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("profile_email", "an email must exist in both systems"),
        ("phone_number", "a phone number must exist in both systems"),
        (OPT_IN_FIELD, "the opt-in status must exist in both systems"),
        ("constituent_id", "Luminate assigns the constituent ID"),
    ],
)
def test_required_is_refused_where_the_seed_forbids_it(integration, field, reason):
    form = _mapping_data(integration, **{f"{field}-required": True})
    assert not form.is_valid()
    assert "cannot be marked Required" in form.errors[f"{field}-required"][0]
    assert reason in form.errors[f"{field}-required"][0]


def test_required_is_allowed_elsewhere(integration):
    form = _mapping_data(integration, **{"profile_first_name-required": True})
    assert form.is_valid()
    assert {c.field for c in form.changes() if c.required} == {"profile_first_name"}


def test_renaming_phone_email_or_opt_in_needs_confirmation(integration):
    form = _mapping_data(integration, **{"profile_email-api": "email.primary_address"})
    assert not form.is_valid()
    message = form.errors["confirm_rename"][0]
    assert "Email from 'primary_email' to 'email.primary_address'" in message and "Test Connection" in message
    assert _mapping_data(
        integration, **{"profile_email-api": "email.primary_address", "confirm_rename": True}
    ).is_valid()
    # Other rows are renamed without a question.
    assert _mapping_data(integration, **{"address_city-api": "home_city"}).is_valid()


def test_mapping_names_must_be_luminate_field_names(integration):
    form = _mapping_data(integration, **{"address_city-api": "Home City"})
    assert "not a Luminate field name" in form.errors["address_city-api"][0]
    form = _mapping_data(integration, **{"phone_number-api": ""})
    assert "Phone number must have its Luminate API field name" in form.errors["phone_number-api"][0]


def test_donations_from_the_file_need_the_transaction_id(integration):
    form = _mapping_data(integration, **{"donation_amount-csv": "DONATION_AMOUNT"})
    assert "transaction ID" in form.errors["donation_transaction_id-csv"][0]
    both = {"donation_amount-csv": "DONATION_AMOUNT", "donation_transaction_id-csv": "TRANSACTION_ID"}
    assert _mapping_data(integration, **both).is_valid()
