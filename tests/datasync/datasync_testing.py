"""Shared values and helpers of the Data Sync set-up tests."""

from __future__ import annotations

import ssl

from lumisync.datasync import services
from lumisync.datasync.forms import form_data
from lumisync.luminate.files import certificate_fingerprint

# Values no page, log line or audit entry may ever show.
SECRET_VALUES = {
    "login_password": "Api-Pass-7c1e",
    "api_key": "Key-5f0a9e",
    "datasync_password": "Ftp-Pass-93b2",
    "site_admin_password": "Admin-Pass-d41f",
}


def ftps_fingerprint(simulator) -> str:
    with open(simulator.ftps_cafile) as handle:
        return certificate_fingerprint(ssl.PEM_cert_to_DER_cert(handle.read()))


def simulator_settings(simulator, **overrides) -> dict:
    """The product's settings for ``simulator``, plus a site administrator whose password is a test secret."""
    return services.simulator_settings(
        simulator,
        site_admin_username="siteadmin",
        site_admin_password=SECRET_VALUES["site_admin_password"],
        **overrides,
    )


def post_settings(client, integration, **changes):
    """Post the Configure Integration form as the page would send it, with ``changes`` on top."""
    data = {key: ("" if value is None else value) for key, value in form_data(integration).items()}
    # A browser sends no value at all for an unticked checkbox.
    for key in ("take_values_from_file", "expect_manifest", "allow_plain_http"):
        if not data[key]:
            data.pop(key)
    data.update(changes)
    return client.post("/datasync/configure/", data)
