"""Shared values and helpers of the Data Sync set-up tests."""

from __future__ import annotations

import ssl

from lumisync.datasync import services
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
