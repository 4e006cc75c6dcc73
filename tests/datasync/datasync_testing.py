"""Shared values and helpers of the Data Sync set-up tests."""

from __future__ import annotations

import ssl

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
    """Settings pointing an integration at ``simulator`` (its plain FTP drop), with the test secrets."""
    values = {
        "login_name": simulator.login_name,
        "login_password": simulator.login_password,
        "api_key": simulator.api_key,
        "api_host": simulator.host,
        "organization_code": simulator.org,
        "export_url": simulator.ftp_url,
        "file_name_pattern": "{org}_changed_constituents_{YYYYMMDD}.csv",
        "datasync_username": simulator.ftp_user,
        "datasync_password": simulator.ftp_password,
        "site_admin_username": "siteadmin",
        "site_admin_password": SECRET_VALUES["site_admin_password"],
        "allow_plain_http": True,
    }
    values.update(overrides)
    return values
