"""Routing, HTTP methods, parameter merging and the access checks, in Luminate's order."""

from __future__ import annotations

import pytest

from .wire import NS, body, error_code, xml_root


def _form(sim, **extra):
    return {
        "api_key": sim.api_key,
        "login_name": sim.login_name,
        "login_password": sim.login_password,
        "v": "1.0",
        "response_format": "json",
        **extra,
    }


@pytest.mark.parametrize(
    "path",
    [
        "/{org}/site/SRConsAPI",
        "/site/SRConsAPI",
        "/{org}/site/SRConsAPI;jsessionid=ABC123.app8007",
        "/site/SRConsAPI;jsessionid=xyz",
    ],
)
def test_both_url_forms_with_and_without_jsessionid(sim, http, path):
    cons_id = sim.state.seeded_ids(1)[0]
    response = http.post(
        sim.base_url + path.format(org=sim.org), data=_form(sim, method="getUser", cons_id=cons_id)
    )
    assert response.status_code == 200
    assert body(response, "getConsResponse")["cons_id"] == cons_id


@pytest.mark.parametrize("path", ["/{org}/site/SRNoSuchAPI", "/otherorg/site/SRConsAPI", "/{org}/SRConsAPI"])
def test_unknown_servlet_or_org_is_404(sim, http, path):
    response = http.post(sim.base_url + path.format(org=sim.org), data=_form(sim, method="getUser"))
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("servlet", "method", "extra"),
    [
        ("SRConsAPI", "listUserFields", {}),
        ("SRConsAPI", "getUserCenters", {"cons_id": "1000101"}),
        ("SRGroupAPI", "listGroups", {}),
        ("SRGroupAPI", "getGroupInfo", {"group_id": "1002"}),
        ("SRAdvocacyAPI", "getAdvocacyAlerts", {}),
    ],
)
def test_get_is_accepted_for_the_documented_methods(api, servlet, method, extra):
    assert api(method, servlet, verb="GET", **extra).status_code == 200


@pytest.mark.parametrize("method", ["getUser", "update", "logInteraction", None])
def test_other_gets_are_405(api, method):
    assert api(method, verb="GET", cons_id="1000101").status_code == 405


def test_put_is_405(api):
    assert api("getUser", verb="PUT", cons_id="1000101").status_code == 405


def test_body_wins_over_query_string(sim, http):
    ids = sim.state.seeded_ids(2)
    response = http.post(
        sim.url(), params={"cons_id": ids[0], "method": "getUser"}, data=_form(sim, cons_id=ids[1])
    )
    assert body(response, "getConsResponse")["cons_id"] == ids[1]


def test_query_string_parameters_are_used_on_post(sim, http):
    cons_id = sim.state.seeded_ids(1)[0]
    response = http.post(sim.url(), params=_form(sim, method="getUser", cons_id=cons_id))
    assert body(response, "getConsResponse")["cons_id"] == cons_id


@pytest.mark.parametrize("method", ["GetUser", "getuser", "", "takeAction"])
def test_unknown_or_miscased_method_is_6(api, method):
    response = api(method, cons_id="1000101")
    assert response.status_code == 403
    assert error_code(response) == "6"


def test_parameter_names_are_case_sensitive(api):
    assert error_code(api("getUser", CONS_ID="1000101")) == "9"


def test_method_checked_before_api_key(api):
    assert error_code(api("nope", api_key="wrong")) == "6"


def test_api_key_checked_before_ip(sim, api):
    sim.set_allowed_cidrs(["10.0.0.0/8"])
    assert error_code(api("getUser", api_key="wrong", cons_id="1000101")) == "2"


def test_ip_checked_before_login(sim, api):
    sim.set_allowed_cidrs(["10.0.0.0/8", "192.168.1.0/24"])
    response = api("getUser", login_password="wrong", cons_id="1000101")
    assert error_code(response) == "4"
    assert "127.0.0.1" in body(response, "errorResponse")["message"]


def test_slash_32_allows_exactly_that_address(sim, api):
    sim.set_allowed_cidrs(["127.0.0.1/32"])
    assert api("getUser", cons_id="1000101").status_code == 200


@pytest.mark.parametrize(
    "creds",
    [
        {"login_password": "wrong"},
        {"login_name": "nobody"},
        {"login_name": "webadmin", "login_password": "web-password"},
    ],
)
def test_bad_login_or_missing_api_right_is_3(api, creds):
    assert error_code(api("getUser", cons_id="1000101", **creds)) == "3"


def test_login_checked_before_required_params(api):
    assert error_code(api("getUser", login_password="wrong")) == "3"


def test_missing_v_is_9(sim, http):
    form = _form(sim, method="getUser", cons_id="1000101")
    del form["v"]
    assert error_code(http.post(sim.url(), data=form)) == "9"


def test_missing_lookup_key_is_9_and_create_without_email_is_10(api):
    assert error_code(api("getUser")) == "9"
    assert error_code(api("create", **{"name.first": "No"})) == "10"


def test_suppress_response_codes_answers_200(api):
    response = api("getUser", api_key="wrong", suppress_response_codes="true", cons_id="1000101")
    assert response.status_code == 200
    assert error_code(response) == "2"


def test_xml_is_the_default_with_namespace_and_schema_location(api):
    response = api("getUser", fmt=None, cons_id="1000101")
    assert response.headers["content-type"].startswith("text/xml")
    root = xml_root(response)
    assert root.tag == NS + "getConsResponse"
    assert root.find(NS + "cons_id").text == "1000101"
    assert (
        "crm.public.v1.xsd" in response.text
        and 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"' in response.text
    )


def test_xml_error_envelope(api):
    response = api("getUser", fmt="xml", api_key="wrong", cons_id="1000101")
    assert response.status_code == 403
    root = xml_root(response)
    assert root.tag == NS + "errorResponse"
    assert root.find(NS + "code").text == "2"
    assert root.find(NS + "message").text == "Incorrect API key."


def test_json_error_envelope_and_code_1_message(sim, api):
    sim.faults.inject("getUser", "error", count=1, code=1)
    response = api("getUser", cons_id="1000101")
    assert response.status_code == 403
    assert response.json() == {"errorResponse": {"code": "1", "message": "Unable to process request."}}
