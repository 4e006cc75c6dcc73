"""Reply classification, request encoding, backoff and pacing: the I/O-free core both clients share."""

from __future__ import annotations

import json
import random
from urllib.parse import parse_qsl

import pytest

from lumisync.luminate import (
    Credentials,
    Duplicate,
    MultipleMatches,
    NotFound,
    RecordLevelError,
    RetryPolicy,
    RunLevelError,
    SiteConfig,
    TransientError,
    ValidationFailed,
)
from lumisync.luminate.api import clip, cons_id_param
from lumisync.luminate.egress import EgressRefused
from lumisync.luminate.protocol import Call, FormEncoder, Pause, RateLimiter, attempts, parse_reply

CALL = Call("SRConsAPI", "getUser", (("cons_id", "1001172"),), "cons_id=1001172")
CREDS = Credentials(api_key="k3y", login_name="apiuser", login_password="pa ss&word")


def parse(status: int, body: bytes):
    return parse_reply(CALL, status, body, CREDS.redact)


def error(code: str, message: str = "m") -> bytes:
    return json.dumps({"errorResponse": {"code": code, "message": message}}).encode()


@pytest.mark.parametrize("status", [200, 403])
@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("1", TransientError),
        ("2", RunLevelError),
        ("3", RunLevelError),
        ("4", RunLevelError),
        ("5", RunLevelError),
        ("6", RunLevelError),
        ("14", RunLevelError),
        ("16", NotFound),
        ("8", MultipleMatches),
        ("15", MultipleMatches),
        ("11", Duplicate),
        ("13", Duplicate),
        ("10", ValidationFailed),
        ("22", ValidationFailed),
        ("35", ValidationFailed),
        ("999", RecordLevelError),
    ],
)
def test_error_response_is_an_error_whatever_the_status(status, code, kind):
    with pytest.raises(kind) as caught:
        parse(status, error(code, "Luminate's words"))
    assert caught.value.code == int(code)
    assert caught.value.luminate_message == "Luminate's words"
    assert caught.value.method == "getUser"
    assert caught.value.http_status == status


def test_error_code_as_a_json_number():
    with pytest.raises(NotFound):
        parse(403, b'{"errorResponse":{"code":16,"message":"none"}}')


def test_run_level_message_names_the_setting():
    with pytest.raises(RunLevelError, match="check the integration's API key") as caught:
        parse(403, error("2", "Incorrect API key."))
    assert str(caught.value).startswith("Luminate refused the API key (code 2)")
    with pytest.raises(RunLevelError, match="IP White List"):
        parse(403, error("4"))
    with pytest.raises(RunLevelError, match="login name and password"):
        parse(403, error("3"))


def test_record_level_message_names_the_record():
    with pytest.raises(NotFound, match="cons_id=1001172"):
        parse(403, error("16", "Record not found."))


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b"<html><body>Internal error</body></html>"),
        (503, b""),
        (502, b'{"getConsResponse":{}}'),
        (429, b""),
        (200, b"<html>maintenance</html>"),
        (200, b'{"getConsResponse":{"cons_id":"1'),
        (200, b""),
        (200, b'<?xml version="1.0"?><getConsResponse>'),
        (200, b'["not", "an", "object"]'),
    ],
)
def test_unusable_replies_are_transient(status, body):
    with pytest.raises(TransientError) as caught:
        parse(status, body)
    assert caught.value.code is None


@pytest.mark.parametrize("status", [405, 404, 302, 401])
def test_wrong_url_or_method_stops_the_run(status):
    with pytest.raises(RunLevelError, match=f"HTTP {status}"):
        parse(status, b"<html>nope</html>")


def test_405_stops_the_run_even_with_a_json_body():
    with pytest.raises(RunLevelError, match="405"):
        parse(405, b'{"something":{}}')


def test_success_returns_the_payload_under_the_single_root():
    assert parse(200, b'{"getConsResponse":{"cons_id":"1"}}') == {"cons_id": "1"}
    assert parse(200, b'{"getConsGroupsResponse":{}}') == {}
    assert parse(200, b'{"singleSignOnMethodResponse":"9dlp0oxn21.app8007"}') == {
        "value": "9dlp0oxn21.app8007"
    }


def test_luminate_message_is_scrubbed_of_secrets():
    with pytest.raises(RunLevelError) as caught:
        parse(403, error("3", "bad password pa ss&word for apiuser"))
    assert "pa ss&word" not in str(caught.value)
    assert "pa ss&word" not in caught.value.luminate_message


def test_form_has_protocol_parameters_and_the_calls_own():
    site = SiteConfig(
        host="secure2.convio.net", credentials=CREDS, center_id="5", suppress_response_codes=True
    )
    form = dict(parse_qsl(FormEncoder(site)(CALL).decode()))
    assert form == {
        "method": "getUser",
        "v": "1.0",
        "api_key": "k3y",
        "login_name": "apiuser",
        "login_password": "pa ss&word",
        "response_format": "json",
        "suppress_response_codes": "true",
        "center_id": "5",
        "cons_id": "1001172",
    }


def test_form_order_and_a_calls_own_center():
    encode = FormEncoder(SiteConfig(host="secure2.convio.net", credentials=CREDS, center_id="5"))
    assert encode(CALL) == (
        b"method=getUser&v=1.0&api_key=k3y&login_name=apiuser&login_password=pa+ss%26word"
        b"&response_format=json&center_id=5&cons_id=1001172"
    )
    own = Call("SRConsAPI", "getUser", (("cons_id", "1"), ("center_id", "9")))
    assert [value for name, value in parse_qsl(encode(own).decode()) if name == "center_id"] == ["9"]
    bare = Call("SRGroupAPI", "listGroups")
    assert FormEncoder(SiteConfig(host="secure2.convio.net", credentials=CREDS))(bare) == (
        b"method=listGroups&v=1.0&api_key=k3y&login_name=apiuser&login_password=pa+ss%26word"
        b"&response_format=json"
    )


def test_a_call_cannot_override_credentials():
    with pytest.raises(ValueError, match="login_password"):
        Call("SRConsAPI", "getUser", (("login_password", "x"),))


def test_backoff_is_capped_exponential_with_full_jitter():
    policy = RetryPolicy(max_attempts=10, base=0.5, cap=4.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (9, 4.0)]:
        draws = [policy.delay(attempt, rng) for _ in range(300)]
        assert all(0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8
        assert min(draws) < ceiling * 0.2


def drive(plan, outcomes):
    """Run a plan against scripted outcomes (an exception to throw or a payload to send)."""
    steps = []
    try:
        step = next(plan)
        while True:
            steps.append(step)
            if isinstance(step, Pause):
                step = plan.send(None)
                continue
            outcome = outcomes.pop(0)
            step = plan.throw(outcome) if isinstance(outcome, Exception) else plan.send(outcome)
    except StopIteration as done:
        return done.value, steps


def transient():
    return TransientError("flaky", method="getUser")


def test_attempts_retry_transient_errors_then_succeed():
    result, steps = drive(
        attempts(CALL, RetryPolicy(max_attempts=3, base=1, cap=1), random.Random(1)),
        [transient(), transient(), {"cons_id": "1"}],
    )
    assert result == {"cons_id": "1"}
    assert [type(s).__name__ for s in steps] == ["Call", "Pause", "Call", "Pause", "Call"]


def test_attempts_give_up_after_max_attempts():
    with pytest.raises(TransientError) as caught:
        drive(
            attempts(CALL, RetryPolicy(max_attempts=2, base=0, cap=0), random.Random(1)),
            [transient(), transient()],
        )
    assert "gave up after 2 attempt(s)" in caught.value.__notes__


def test_attempts_never_retry_run_or_record_level_errors():
    for error_ in (RunLevelError("key", method="getUser"), NotFound("gone", method="getUser")):
        with pytest.raises(type(error_)):
            drive(attempts(CALL, RetryPolicy(), random.Random(1)), [error_])


def test_rate_limiter_spaces_requests_evenly():
    now = [100.0]
    limiter = RateLimiter(10.0, clock=lambda: now[0])
    assert [round(limiter.reserve(), 3) for _ in range(4)] == [0.0, 0.1, 0.2, 0.3]
    now[0] = 101.0
    assert limiter.reserve() == 0.0
    assert RateLimiter(None).reserve() == 0.0


def test_clip_counts_utf16_units_and_never_splits_characters():
    assert clip("short", 80, single_line=True) == "short"
    assert clip("a\nb\x00c", 80, single_line=True) == "a b c"
    assert clip("line1\nline2", 80, single_line=False) == "line1\nline2"
    cut = clip("😀" * 50, 80, single_line=True)
    assert len(cut.encode("utf-16-le")) // 2 <= 80
    assert cut.endswith("…")
    assert cut[:-1] == "😀" * 39
    # q + combining dot above has no precomposed form, so the pair must be kept or dropped whole.
    marked = clip("q\u0307" * 100, 80, single_line=True)
    assert marked == "q\u0307" * 39 + "…"


@pytest.mark.parametrize("value", ["abc", "", "12 3", -4, 1.5, None, True])
def test_cons_id_must_be_a_whole_number(value):
    with pytest.raises(ValueError, match="cons_id"):
        cons_id_param(value, method="getUser")


def test_cons_id_is_compared_as_a_string():
    assert (
        cons_id_param(1001172, method="getUser") == cons_id_param(" 1001172", method="getUser") == "1001172"
    )


def test_site_defaults_to_the_polite_pace_of_the_reference():
    # 8 requests in flight and 10 requests/s, as the issue and luminate-quirks.md state.
    site = SiteConfig(host="secure2.convio.net", credentials=CREDS)
    assert (site.concurrency, site.rate) == (8, 10.0)


def test_site_urls_with_and_without_org():
    creds = CREDS
    assert SiteConfig(host="secure2.convio.net", org="myorg", credentials=creds).servlet_url("SRConsAPI") == (
        "https://secure2.convio.net/myorg/site/SRConsAPI"
    )
    assert SiteConfig(host="secure.example.org", credentials=creds).servlet_url("SRConsAPI") == (
        "https://secure.example.org/site/SRConsAPI"
    )


def test_site_refuses_private_hosts_unless_allowed():
    with pytest.raises(EgressRefused):
        SiteConfig(host="127.0.0.1:8000", credentials=CREDS)
    site = SiteConfig(host="127.0.0.1:8000", credentials=CREDS, allow_private=True, allow_http=True)
    assert site.base_url == "http://127.0.0.1:8000/site/"


def test_site_refuses_a_url_in_the_host_field():
    with pytest.raises(EgressRefused, match="scheme"):
        SiteConfig(host="https://secure2.convio.net", credentials=CREDS)


def test_credentials_repr_hides_secrets():
    text = repr(CREDS) + str(CREDS) + repr(SiteConfig(host="secure2.convio.net", credentials=CREDS))
    assert "pa ss&word" not in text
    assert "k3y" not in text
    assert "apiuser" in text
    assert CREDS.redact("x pa+ss%26word y pa ss&word") == "x *** y ***"
