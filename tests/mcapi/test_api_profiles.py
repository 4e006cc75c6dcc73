"""The profile, campaign and call methods, checked against their XML."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from mcapi_testing import error_of

from lumisync.messaging.models import Message
from lumisync.subscribers import services as subscribers
from lumisync.subscribers.models import Call, Channel, ConsentEvent, OptInPath, Profile, Subscription

pytestmark = pytest.mark.django_db


def make_profile(organization, phone, **fields):
    return subscribers.get_or_create_profile(organization, phone, channel=Channel.API, **fields)[0]


def test_profile_xml_carries_fields_subscriptions_and_integration(api, organization, path):
    profile = make_profile(
        organization, "+12025550143", first_name="Ada", email="ada@example.org", city="Albany"
    )
    subscribers.update_profile_fields(profile, custom_fields={"shirt size": "M"}, constituent_id="1001")
    Profile.objects.filter(pk=profile.pk).update(
        luminate_synced_at=dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    )
    subscribers.opt_in(profile, path, channel=Channel.WEB)

    root = api("GET", "profile", phone_number="(202) 555-0143")
    element = root.find("profile")
    assert element.get("id") == str(profile.pk)
    assert element.findtext("phone_number") == "12025550143"
    assert element.findtext("first_name") == "Ada"
    assert element.findtext("status") == "Active Subscriber"
    assert element.find("address").findtext("city") == "Albany"
    assert element.find("source").get("type") == "api"
    column = element.find("custom_columns/custom_column")
    assert (column.get("name"), column.text) == ("shirt size", "M")
    subscription = element.find("subscriptions/subscription")
    assert subscription.get("campaign_name") == "River Alerts"
    assert subscription.get("status") == "Active"
    assert subscription.get("opt_in_path_id") == str(path.pk)
    assert subscription.get("opt_in_source") == "Web form"
    integration = element.find("integrations/integration")
    assert integration.attrib == {
        "type": "luminate",
        "constituent_id": "1001",
        "synchronized_at": "2026-05-01 12:00:00 UTC",
    }


def test_profile_of_unknown_number_is_mobile_commons_error_5(api):
    assert error_of(api("GET", "profile", phone_number="+12025550100")) == (
        "5",
        "Invalid phone number: no profile has phone_number '+12025550100'.",
    )


def test_invalid_phone_number_is_error_5_naming_the_value(api):
    error_id, message = error_of(api("GET", "profile", phone_number="12345"))
    assert error_id == "5"
    assert message.startswith("Invalid phone number") and "'12345'" in message


def test_profiles_filter_by_phone_list(api, organization):
    for phone in ("+12025550101", "+12025550102", "+12025550103"):
        make_profile(organization, phone)
    root = api("GET", "profiles", phone_number="2025550101, +1 202 555 0103")
    assert sorted(p.findtext("phone_number") for p in root.iter("profile")) == ["12025550101", "12025550103"]


def test_profiles_filter_by_updated_dates(api, organization):
    with time_machine.travel(dt.datetime(2026, 3, 1, 15, tzinfo=dt.UTC)):
        make_profile(organization, "+12025550101")
    with time_machine.travel(dt.datetime(2026, 3, 10, 15, tzinfo=dt.UTC)):
        make_profile(organization, "+12025550102")
    with time_machine.travel(dt.datetime(2026, 3, 20, 15, tzinfo=dt.UTC)):
        make_profile(organization, "+12025550103")

    def phones(**params):
        return [p.findtext("phone_number") for p in api("GET", "profiles", **params).iter("profile")]

    assert phones(**{"from": "2026-03-05"}) == ["12025550102", "12025550103"]
    assert phones(to="2026-03-10") == ["12025550101", "12025550102"]
    assert phones(**{"from": "2026-03-05", "to": "2026-03-15"}) == ["12025550102"]
    assert phones(**{"from": "2026-03-10T16:00:00Z"}) == ["12025550103"]


def test_bad_date_names_the_parameter_and_value(api):
    error_id, message = error_of(api("GET", "profiles", **{"from": "last tuesday"}))
    assert error_id == "0"
    assert "from 'last tuesday'" in message


def test_paging(api, organization):
    for n in range(5):
        make_profile(organization, f"+1202555011{n}")
    first = api("GET", "profiles", limit=2, page=1)
    third = api("GET", "profiles", limit=2, page=3)
    beyond = api("GET", "profiles", limit=2, page=4)
    assert (first.find("profiles").get("num"), first.find("profiles").get("page")) == ("2", "1")
    assert [p.findtext("phone_number") for p in third.iter("profile")] == ["12025550114"]
    assert beyond.find("profiles").attrib == {"num": "0", "page": "4"}


@pytest.mark.parametrize("limit", ["0", "1001", "ten"])
def test_limit_out_of_range(api, limit):
    error_id, message = error_of(api("GET", "profiles", limit=limit))
    assert error_id == "0" and f"limit {limit!r}" in message


def test_include_flags_leave_sections_out(api, organization, path):
    subscribers.opt_in(make_profile(organization, "+12025550101"), path, channel=Channel.API)
    element = api("GET", "profiles", include_subscriptions="false", include_custom_columns="false").find(
        "profiles/profile"
    )
    assert element.find("subscriptions") is None and element.find("custom_columns") is None
    assert error_of(api("GET", "profiles", include_subscriptions="maybe"))[1].endswith(
        "include_subscriptions 'maybe' is not true or false."
    )


def test_profile_update_creates_and_opts_in_with_welcome(api, organization, path):
    root = api(
        "POST",
        "profile_update",
        phone_number="202-555-0143",
        first_name="Ada",
        postal_code="12207",
        opt_in_path_id=path.pk,
        **{"shirt size": "L"},
    )
    element = root.find("profile")
    profile = Profile.objects.get(pk=element.get("id"))
    assert (profile.phone_number, profile.first_name, profile.postal_code) == ("+12025550143", "Ada", "12207")
    assert profile.custom_fields == {"shirt size": "L"}
    assert profile.source == Channel.API
    subscription = profile.subscriptions.get()
    assert subscription.status == Subscription.Status.ACTIVE
    event = ConsentEvent.objects.get(profile=profile)
    assert event.channel == Channel.API and event.actor.startswith("API key lsk_")
    assert Message.objects.filter(profile=profile, kind="welcome").count() == 1
    assert element.find("subscriptions/subscription").get("status") == "Active"


@pytest.mark.parametrize(
    "column", ["0715ManyWords", "MJB 081613 Obama NY/PA DETAILS", "Frackdown - Cool? MJB091114"]
)
def test_profile_update_takes_mobile_commons_custom_column_names(api, organization, column):
    api("POST", "profile_update", phone_number="2025550143", **{column: "yes"})
    assert Profile.objects.get(organization=organization).custom_fields == {column: "yes"}


def test_profile_update_by_query_string_or_body(api, client, token, organization):
    client.post(
        "/api/profile_update?phone_number=2025550143&first_name=Query",
        {"last_name": "Body"},
        headers={"Authorization": f"Bearer {token}"},
    )
    profile = Profile.objects.get(organization=organization)
    assert (profile.first_name, profile.last_name) == ("Query", "Body")


def test_profile_update_of_opted_out_number_only_prompts(api, organization, path):
    profile = make_profile(organization, "+12025550143")
    subscribers.opt_in(profile, path, channel=Channel.API)
    subscribers.opt_out(profile, channel=Channel.SMS)
    api("POST", "profile_update", phone_number="+12025550143", opt_in_path_id=path.public_key)
    subscription = profile.subscriptions.get()
    assert subscription.status == Subscription.Status.PENDING
    assert Message.objects.filter(profile=profile, kind="confirmation").count() == 1
    assert Message.objects.filter(profile=profile, kind="welcome").count() == 1  # the first one only


def test_profile_update_errors_name_field_and_value(api, organization):
    assert error_of(api("POST", "profile_update", first_name="Ada"))[1] == (
        "Missing parameter: phone_number is required."
    )
    error_id, message = error_of(api("POST", "profile_update", phone_number="+12025550143", email="ada@"))
    assert error_id == "0" and "email 'ada@'" in message
    error_id, message = error_of(
        api("POST", "profile_update", phone_number="+12025550143", opt_in_path_id="99999")
    )
    assert error_id == "4" and "opt_in_path_id '99999'" in message
    error_id, message = error_of(
        api("POST", "profile_update", phone_number="+12025550143", **{"bad<name>": "x"})
    )
    assert error_id == "0" and "'bad<name>'" in message
    assert not Profile.objects.exists()


def test_profile_update_is_post_only(api):
    response = api.raw("GET", "profile_update", phone_number="+12025550143")
    assert response.status_code == 405


def test_opt_out_of_one_campaign_or_all(api, organization, path):
    other = OptInPath.objects.create(
        organization=organization,
        campaign=path.campaign.__class__.objects.create(organization=organization, name="Volunteers"),
        name="Volunteer page",
    )
    profile = make_profile(organization, "+12025550143")
    subscribers.opt_in(profile, path, channel=Channel.API)
    subscribers.opt_in(profile, other, channel=Channel.API)

    api("POST", "profile_opt_out", phone_number="+12025550143", campaign_id=path.campaign_id)
    statuses = dict(profile.subscriptions.values_list("campaign__name", "status"))
    assert statuses == {"River Alerts": "opted_out", "Volunteers": "active"}

    volunteers = profile.subscriptions.get(campaign__name="Volunteers")
    api("POST", "profile_opt_out", phone_number="+12025550143", subscription_id=volunteers.pk)
    volunteers.refresh_from_db()
    assert volunteers.status == "opted_out"
    profile.refresh_from_db()
    assert profile.opted_out_at is None

    third = OptInPath.objects.create(
        organization=organization,
        campaign=path.campaign.__class__.objects.create(organization=organization, name="Events"),
        name="Events page",
    )
    subscribers.opt_in(profile, third, channel=Channel.API)
    api("POST", "profile_opt_out", phone_number="+12025550143")
    assert set(profile.subscriptions.values_list("status", flat=True)) == {"opted_out"}
    profile.refresh_from_db()
    assert profile.opted_out_at is None, "an API opt-out of all campaigns is not the person texting STOP"
    assert profile.get_status_display() == "No Subscriptions"
    assert error_of(api("POST", "profile_opt_out", phone_number="+12025550143", campaign_id="abc"))[0] == "1"


def test_opt_out_refusals_change_nothing(api, organization, path):
    profile = make_profile(organization, "+12025550143")
    subscribers.opt_in(profile, path, channel=Channel.API)
    someone_else = make_profile(organization, "+12025550144")
    subscribers.opt_in(someone_else, path, channel=Channel.API)
    theirs = someone_else.subscriptions.get()

    by_foreign_subscription = api(
        "POST", "profile_opt_out", phone_number="+12025550143", subscription_id=theirs.pk
    )
    assert error_of(by_foreign_subscription) == (
        "8",
        f"Invalid subscription id: subscription_id {theirs.pk} is not a subscription of +12025550143.",
    )
    by_unknown_campaign = api("POST", "profile_opt_out", phone_number="+12025550143", campaign_id="999999")
    assert error_of(by_unknown_campaign)[0] == "1"
    assert "campaign_id 999999" in error_of(by_unknown_campaign)[1]
    assert set(Subscription.objects.values_list("status", flat=True)) == {"active"}


def test_an_api_opt_out_of_all_campaigns_under_a_stop_outlasts_a_start(api, organization, path):
    profile = make_profile(organization, "+12025550143")
    subscribers.opt_in(profile, path, channel=Channel.API)
    subscribers.opt_out(profile, channel=Channel.SMS, actor="+12025550143")

    api("POST", "profile_opt_out", phone_number="+12025550143")
    recorded = ConsentEvent.objects.filter(profile=profile, campaign=path.campaign, kind="opt_out")
    assert list(recorded.values_list("channel", "source_detail")) == [("api", "API profile_opt_out")]

    profile.refresh_from_db()
    subscribers.restart(profile)
    assert set(profile.subscriptions.values_list("status", flat=True)) == {"opted_out"}


def test_campaigns_with_opt_in_paths(api, path):
    plain = api("GET", "campaigns").find("campaigns/campaign")
    assert plain.find("opt_in_paths") is None
    detailed = api("GET", "campaigns", include_opt_in_paths="1").find("campaigns/campaign")
    element = detailed.find("opt_in_paths/opt_in_path")
    assert element.get("id") == str(path.pk)
    assert element.findtext("key") == path.public_key
    assert element.findtext("name") == "Website"


def test_campaign_subscribers_filters_and_pages(api, organization, campaign, path):
    keyword = OptInPath.objects.create(
        organization=organization, campaign=campaign, name="Keyword", kind="keyword", keyword="RIVER"
    )
    for n in range(3):
        subscribers.opt_in(make_profile(organization, f"+1202555012{n}"), path, channel=Channel.API)
    subscribers.opt_in(make_profile(organization, "+12025550129"), keyword, channel=Channel.SMS)

    root = api("GET", "campaign_subscribers", campaign_id=campaign.pk)
    subs = root.findall("subscriptions/sub")
    assert len(subs) == 4
    assert subs[0].findtext("phone_number") == "12025550120"
    assert subs[0].findtext("status") == "Active"
    by_path = api("GET", "campaign_subscribers", campaign_id=campaign.pk, opt_in_path_id=keyword.pk)
    assert [s.findtext("phone_number") for s in by_path.iter("sub")] == ["12025550129"]
    paged = api("GET", "campaign_subscribers", campaign_id=campaign.pk, limit=3, page=2)
    assert paged.find("subscriptions").attrib == {"num": "1", "page": "2"}
    assert error_of(api("GET", "campaign_subscribers"))[1] == "Missing parameter: campaign_id is required."


def test_campaign_subscribers_filter_by_last_change(api, organization, campaign, path):
    for day, phone in ((1, "+12025550101"), (10, "+12025550102"), (20, "+12025550103")):
        with time_machine.travel(dt.datetime(2026, 3, day, 15, tzinfo=dt.UTC)):
            subscribers.opt_in(make_profile(organization, phone), path, channel=Channel.API)

    def phones(**params):
        root = api("GET", "campaign_subscribers", campaign_id=campaign.pk, **params)
        return [sub.findtext("phone_number") for sub in root.iter("sub")]

    assert phones(**{"from": "2026-03-05"}) == ["12025550102", "12025550103"]
    assert phones(to="2026-03-10") == ["12025550101", "12025550102"]
    assert phones(**{"from": "2026-03-05", "to": "2026-03-15"}) == ["12025550102"]


def test_calls_are_recorded_on_the_profile(api, organization):
    profile = make_profile(organization, "+12025550143")
    root = api(
        "POST",
        "calls",
        phone_number="2025550143",
        alert_id="77",
        recipient_id="S000148",
        recipient_name="Sen. Example",
        started_at="2026-06-01T14:03:00Z",
        duration="95",
        status="completed",
    )
    call = Call.objects.get()
    assert (call.profile, call.alert_id, call.recipient_name, call.duration_seconds) == (
        profile,
        "77",
        "Sen. Example",
        95,
    )
    assert call.started_at == dt.datetime(2026, 6, 1, 14, 3, tzinfo=dt.UTC)
    assert root.find("call").findtext("started_at") == "2026-06-01 14:03:00 UTC"


def test_call_errors_name_field_and_value(api, organization):
    error_id, message = error_of(
        api(
            "POST",
            "calls",
            phone_number="2025550143",
            alert_id="77",
            started_at="2026-06-01T14:03:00Z",
            status="lost",
        )
    )
    assert error_id == "0" and "status 'lost'" in message
    error_id, message = error_of(
        api(
            "POST",
            "calls",
            phone_number="2025550143",
            alert_id="77",
            started_at="2026-06-01T14:03:00Z",
            duration="-3",
        )
    )
    assert "duration '-3'" in message
    error_id, message = error_of(
        api("POST", "calls", phone_number="2025550143", started_at="2026-06-01T14:03:00Z")
    )
    assert (error_id, message) == ("7", "Missing parameter: alert_id is required.")
    assert not Call.objects.exists()
    assert not Profile.objects.exists(), "a refused call leaves no profile behind"


def test_characters_xml_cannot_carry_are_left_out(api, organization):
    make_profile(organization, "+12025550143", first_name="Ada\x0bLovelace")
    assert api("GET", "profile", phone_number="+12025550143").findtext("profile/first_name") == "AdaLovelace"


def test_profile_update_through_an_inactive_path_is_refused(api, path):
    OptInPath.objects.filter(pk=path.pk).update(active=False)
    error_id, message = error_of(
        api("POST", "profile_update", phone_number="+12025550143", opt_in_path_id=path.pk)
    )
    assert error_id == "4" and f"opt_in_path_id {path.pk} ('Website') is inactive" in message
    assert not Profile.objects.exists()
