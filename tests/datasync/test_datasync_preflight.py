"""Test Connection against the simulator over real HTTP, FTP and FTPS: one line per check, with the fix."""

from __future__ import annotations

import pytest
from datasync_testing import ftps_fingerprint, simulator_settings

from lumisync.datasync import preflight, services
from lumisync.datasync.models import AuditEntry


def _lines(checks) -> dict[str, preflight.Check]:
    return {check.name: check for check in checks}


def test_a_correct_integration_passes_every_check(configured, actor):
    checks = preflight.run_connection_test(configured, actor)
    assert [check.status for check in checks] == [preflight.PASSED] * 9, [c for c in checks if not c.passed]
    lines = _lines(checks)
    assert "custom_boolean50 (Mobile Opt-in)" in lines[preflight.OPT_IN_FIELD].detail
    assert "simorg_changed_constituents_" in lines[preflight.FILE_PRESENT].detail
    assert "MOBILE_PHONE" in lines[preflight.HEADINGS].detail
    configured.refresh_from_db()
    assert configured.test_is_current and configured.last_test_results[0]["status"] == preflight.PASSED
    assert configured.audit_entries.filter(
        action=AuditEntry.Action.TESTED, summary="Test Connection passed."
    ).exists()


def test_a_wrong_api_key_fails_its_line_and_skips_what_depends_on_it(configured, actor):
    services.apply_settings(configured, {"api_key": "not-the-key"}, actor)
    lines = _lines(preflight.run_connection_test(configured, actor))
    assert lines[preflight.API_REACHABLE].passed
    assert lines[preflight.API_KEY].status == preflight.FAILED
    assert "API key" in lines[preflight.API_KEY].fix
    assert lines[preflight.OPT_IN_FIELD].status == preflight.NOT_RUN
    # The file server is checked independently and still passes.
    assert lines[preflight.HEADINGS].passed
    configured.refresh_from_db()
    assert not configured.test_is_current


def test_a_wrong_login_names_the_login_and_the_right_it_needs(configured, actor):
    services.apply_settings(configured, {"login_password": "wrong-password"}, actor)
    line = _lines(preflight.run_connection_test(configured, actor))[preflight.LOGIN]
    assert line.status == preflight.FAILED
    assert "Use Luminate Online APIs" in line.fix
    assert "wrong-password" not in line.detail + line.fix


def test_an_address_off_the_ip_allow_list_shows_the_addresses_to_add(configured, actor, sim):
    sim.set_allowed_cidrs(["10.0.0.0/8"])
    line = _lines(preflight.run_connection_test(configured, actor))[preflight.IP_ALLOWED]
    assert line.status == preflight.FAILED
    assert "203.0.113.7/32, 203.0.113.8/32" in line.fix


def test_an_unreachable_api_host_fails_reachability(configured, actor, sim):
    sim._http.stop()
    lines = _lines(preflight.run_connection_test(configured, actor))
    assert lines[preflight.API_REACHABLE].status == preflight.FAILED
    assert "API host name" in lines[preflight.API_REACHABLE].fix
    assert lines[preflight.API_KEY].status == preflight.NOT_RUN


def test_a_missing_opt_in_field_and_a_wrong_mapped_name_are_named(configured, actor):
    services.apply_settings(configured, {"opt_in_field": "custom_boolean77"}, actor)
    configured.field_mappings.filter(field="address_city").update(api_field_name="primary_address.town")
    lines = _lines(preflight.run_connection_test(configured, actor))
    assert lines[preflight.OPT_IN_FIELD].status == preflight.FAILED
    assert "custom_boolean77" in lines[preflight.OPT_IN_FIELD].detail
    mapped = lines[preflight.MAPPED_FIELDS]
    assert mapped.status == preflight.FAILED
    assert "City: 'primary_address.town'" in mapped.detail
    assert "Opt-in status: 'custom_boolean77'" in mapped.detail


def test_an_opt_in_field_that_is_not_a_boolean_fails(configured, actor):
    services.apply_settings(configured, {"opt_in_field": "custom_string1"}, actor)
    line = _lines(preflight.run_connection_test(configured, actor))[preflight.OPT_IN_FIELD]
    assert line.status == preflight.FAILED and "not a Boolean" in line.detail


def test_a_refused_file_server_login_says_which_setting_to_fix(configured, actor):
    services.apply_settings(configured, {"datasync_password": "wrong-ftp-password"}, actor)
    lines = _lines(preflight.run_connection_test(configured, actor))
    assert lines[preflight.FILE_LOGIN].status == preflight.FAILED
    assert lines[preflight.FILE_LOGIN].fix == "Check the Data Sync user name and password."
    assert lines[preflight.FILE_PRESENT].status == preflight.NOT_RUN
    assert lines[preflight.API_KEY].passed


def test_no_export_file_fails_with_the_pattern(integration, sim, actor):
    services.apply_settings(integration, simulator_settings(sim), actor)
    lines = _lines(preflight.run_connection_test(integration, actor))
    assert lines[preflight.FILE_LOGIN].passed
    assert lines[preflight.FILE_PRESENT].status == preflight.FAILED
    assert "{org}_changed_constituents_{YYYYMMDD}.csv" in lines[preflight.FILE_PRESENT].detail
    assert lines[preflight.HEADINGS].status == preflight.NOT_RUN


def test_csv_headings_that_the_file_lacks_are_named(configured, actor):
    configured.field_mappings.filter(field="profile_first_name").update(csv_heading="GIVEN_NAME")
    line = _lines(preflight.run_connection_test(configured, actor))[preflight.HEADINGS]
    assert line.status == preflight.FAILED
    assert "First name" in line.detail and "'GIVEN_NAME'" in line.detail


def test_donation_headings_are_checked_against_the_file(configured, actor, sim):
    configured.field_mappings.filter(field="donation_transaction_id").update(csv_heading="TRANSACTION_ID")
    line = _lines(preflight.run_connection_test(configured, actor))[preflight.HEADINGS]
    assert line.status == preflight.FAILED and "Donation transaction ID" in line.detail
    sim.write_changed_file(mode="liberal", donation_columns=True)
    assert _lines(preflight.run_connection_test(configured, actor))[preflight.HEADINGS].passed


def test_label_style_headings_match_db_style_mappings(configured, actor, sim):
    sim.write_changed_file(mode="liberal", header_style="label", delimiter=";")
    line = _lines(preflight.run_connection_test(configured, actor))[preflight.HEADINGS]
    assert line.passed, line.detail
    assert "Constituent ID" in line.detail


def test_ftps_with_a_pinned_certificate(configured, actor, sim):
    services.apply_settings(
        configured, {"export_url": sim.ftps_url, "file_server_fingerprint": ftps_fingerprint(sim)}, actor
    )
    assert _lines(preflight.run_connection_test(configured, actor))[preflight.FILE_PRESENT].passed
    services.apply_settings(configured, {"file_server_fingerprint": "AB" * 32}, actor)
    line = _lines(preflight.run_connection_test(configured, actor))[preflight.FILE_LOGIN]
    assert line.status == preflight.FAILED and "fingerprint" in line.fix


@pytest.mark.parametrize("setting", ["LUMISYNC_ALLOW_PRIVATE_HOSTS", "LUMISYNC_ALLOW_INSECURE_HTTP"])
def test_operator_settings_still_apply_to_a_saved_integration(configured, actor, settings, setting):
    setattr(settings, setting, False)
    lines = _lines(preflight.run_connection_test(configured, actor))
    assert lines[preflight.API_REACHABLE].status == preflight.FAILED


def test_failures_never_echo_secret_values(configured, actor, sim, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    wrong = {
        "api_key": "Key-wrong-123",
        "login_password": "Pw-wrong-456",
        "datasync_password": "Ftp-wrong-789",
    }
    for name, value in wrong.items():
        services.apply_settings(configured, {name: value}, actor)
        preflight.run_connection_test(configured, actor)
    sim.set_allowed_cidrs(["10.0.0.0/8"])
    preflight.run_connection_test(configured, actor)
    configured.refresh_from_db()
    seen = str(configured.last_test_results) + "".join(
        str(entry.changes) + entry.summary for entry in configured.audit_entries.all()
    )
    seen += "\n".join(record.getMessage() for record in caplog.records)
    assert "failed" in str(configured.last_test_results)
    for value in wrong.values():
        assert value not in seen
