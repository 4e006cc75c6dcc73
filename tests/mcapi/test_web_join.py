"""The public web opt-in form target, /profiles/join."""

from __future__ import annotations

import pytest

from lumisync.mcapi.models import DonationFormSnippet, WebSettings
from lumisync.messaging.models import Message
from lumisync.subscribers import services as subscribers
from lumisync.subscribers.models import Channel, ConsentEvent, OptInPath, Profile, Subscription

pytestmark = pytest.mark.django_db


def join(client, *, headers=None, **fields):
    return client.post("/profiles/join", fields, headers=headers or {})


def form(path, phone="202-555-0143", **extra):
    return {"opt_in_path[]": path.public_key, "person[phone]": phone, **extra}


def test_join_creates_profile_subscribes_and_welcomes(client, path):
    response = join(
        client,
        **form(
            path,
            **{
                "person[first_name]": "Ada",
                "person[postal_code]": "12207",
                "person[favorite river]": "Hudson",
            },
        ),
    )
    assert response.status_code == 200
    assert b"Thank you" in response.content
    profile = Profile.objects.get()
    assert (profile.phone_number, profile.first_name, profile.postal_code, profile.source) == (
        "+12025550143",
        "Ada",
        "12207",
        Channel.WEB,
    )
    assert profile.custom_fields == {"favorite river": "Hudson"}
    assert profile.subscriptions.get().status == Subscription.Status.ACTIVE
    assert Message.objects.get(profile=profile).kind == "welcome"


def test_join_by_path_id_and_several_paths(client, organization, path):
    other = OptInPath.objects.create(
        organization=organization,
        campaign=path.campaign.__class__.objects.create(organization=organization, name="Volunteers"),
        name="Volunteer page",
    )
    join(client, **{"opt_in_path[]": [str(path.pk), other.public_key], "person[phone]": "2025550143"})
    assert Subscription.objects.filter(status="active").count() == 2


def test_json_answer(client, path):
    response = join(client, headers={"Accept": "application/json"}, **form(path))
    assert response.json() == {"success": True}
    assert Profile.objects.get().subscriptions.get().status == Subscription.Status.ACTIVE


@pytest.mark.parametrize("before", ["subscribed", "waiting for YES", "opted out"])
def test_the_answer_tells_nothing_of_the_number_before(client, organization, path, before):
    new_number = join(client, format="json", **form(path, phone="2025550199")).json()
    profile, _ = subscribers.get_or_create_profile(organization, "+12025550143", channel=Channel.SMS)
    if before == "waiting for YES":
        path.confirmation_prompt = "Reply YES for River Alerts. Reply HELP for help, STOP to end."
        path.save()
    subscribers.opt_in(profile, path, channel=Channel.WEB)
    if before == "opted out":
        subscribers.opt_out(profile, channel=Channel.SMS)

    known_number = join(client, format="json", **form(path))

    assert known_number.status_code == 200
    assert known_number.json() == new_number


@pytest.mark.parametrize(
    "column", ["0715ManyWords", "MJB 081613 Obama NY/PA DETAILS", "Frackdown - Cool? MJB091114"]
)
def test_custom_fields_take_mobile_commons_column_names(client, path, column):
    join(client, **form(path, **{f"person[{column}]": "yes"}))
    assert Profile.objects.get().custom_fields == {column: "yes"}


def test_bad_number_error_page_and_json(client, path):
    page = join(client, headers={"Referer": "https://www.example.org/join"}, **form(path, phone="555"))
    assert page.status_code == 400
    assert b"Invalid phone number" in page.content and b"&#x27;555&#x27;" in page.content
    assert b'href="https://www.example.org/join"' in page.content
    answer = join(client, **form(path, phone="555", format="json"))
    assert answer.status_code == 400
    assert answer.json()["error"]["id"] == 5
    assert "'555'" in answer.json()["error"]["message"]
    assert not Profile.objects.exists()


def test_missing_phone_and_unknown_path(client, path):
    assert (
        "person[phone] is required"
        in join(client, format="json", **{"opt_in_path[]": path.public_key}).json()["error"]["message"]
    )
    unknown = join(client, format="json", **{"opt_in_path[]": "OPNOPE", "person[phone]": "2025550143"})
    assert (
        unknown.json()["error"]["message"]
        == "Invalid opt-in path: opt_in_path[] 'OPNOPE' is not an opt-in path."
    )


def test_opted_out_number_gets_a_prompt_not_a_subscription(client, organization, path):
    profile, _ = subscribers.get_or_create_profile(organization, "+12025550143", channel=Channel.SMS)
    subscribers.opt_out(profile, channel=Channel.SMS)
    join(client, **form(path))
    assert profile.subscriptions.get().status == Subscription.Status.PENDING
    assert Message.objects.get(profile=profile).kind == "confirmation"


def test_redirect_only_to_allowed_hosts(client, organization, path):
    WebSettings.objects.create(organization=organization, allowed_redirect_hosts="www.example.org")
    allowed = join(client, **form(path, redirect_to="https://www.example.org/thanks"))
    assert allowed.status_code == 302 and allowed["Location"] == "https://www.example.org/thanks"
    refused = join(client, **form(path, phone="2025550144", redirect_to="https://evil.example.net/"))
    assert refused.status_code == 400
    assert b"redirect_to" in refused.content and b"evil.example.net" in refused.content
    assert not Profile.objects.filter(phone_number="+12025550144").exists()


def test_friends_get_a_prompt_and_join_only_on_yes(client, organization, path):
    join(
        client,
        **form(path, **{"friends[]": ["2025550150", "2025550151"], "friends_opt_in_path": path.public_key}),
    )
    friend = Profile.objects.get(phone_number="+12025550150")
    assert friend.source == Channel.REFERRAL
    subscription = friend.subscriptions.get()
    assert subscription.status == Subscription.Status.PENDING
    assert Message.objects.get(profile=friend).kind == "confirmation"
    event = ConsentEvent.objects.get(profile=friend)
    assert (event.channel, event.actor) == (Channel.REFERRAL, "+12025550143")

    subscribers.confirm(friend)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE


@pytest.mark.parametrize("stop", ["globally", "from the campaign"])
def test_a_friend_who_opted_out_is_sent_nothing_and_the_answer_does_not_tell(
    client, organization, path, stop
):
    friend, _ = subscribers.get_or_create_profile(organization, "+12025550150", channel=Channel.SMS)
    subscribers.opt_in(friend, path, channel=Channel.SMS)
    subscribers.opt_out(friend, path.campaign if stop == "from the campaign" else None, channel=Channel.SMS)
    sent_before = Message.objects.filter(profile=friend).count()
    answer = join(
        client,
        format="json",
        **form(path, **{"friends[]": ["2025550150", "2025550151"], "friends_opt_in_path": path.public_key}),
    )
    page = join(
        client,
        **form(
            path,
            phone="2025550144",
            **{"friends[]": ["2025550150", "2025550152"], "friends_opt_in_path": path.public_key},
        ),
    )

    assert answer.json() == {"success": True}, "nobody learns a friend's state by naming the number"
    assert "+12025550150" not in page.content.decode()
    assert Message.objects.filter(profile=friend).count() == sent_before
    invited = subscribers.get_or_create_profile(organization, "+12025550151", channel=Channel.SMS)[0]
    assert Message.objects.filter(profile=invited).count() == 1, "a friend who can be asked is asked"
    assert friend.subscriptions.get().status == Subscription.Status.OPTED_OUT


def test_friends_need_a_path_and_valid_numbers(client, path):
    answer = join(client, format="json", **form(path, **{"friends[]": "2025550150"}))
    assert "friends_opt_in_path is required" in answer.json()["error"]["message"]
    answer = join(
        client, format="json", **form(path, **{"friends[]": "12", "friends_opt_in_path": path.public_key})
    )
    assert "friends[]" in answer.json()["error"]["message"] and "'12'" in answer.json()["error"]["message"]
    assert not Profile.objects.exists()


def test_honeypot_keeps_nothing(client, path):
    response = join(client, **form(path, website="http://spam.example"))
    assert response.status_code == 200
    assert not Profile.objects.exists()


def test_per_address_rate_limit(client, path, settings):
    settings.LUMISYNC_JOIN_BURST = 2
    settings.LUMISYNC_JOIN_RATE_PER_MINUTE = 1
    assert join(client, **form(path, phone="2025550141")).status_code == 200
    assert join(client, **form(path, phone="2025550142")).status_code == 200
    limited = join(client, format="json", **form(path, phone="2025550143"))
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    assert Profile.objects.count() == 2
    other_address = client.post("/profiles/join", form(path, phone="2025550143"), REMOTE_ADDR="127.0.0.9")
    assert other_address.status_code == 200


def test_cors_for_allowed_origins_only(client, organization, path):
    WebSettings.objects.create(organization=organization, allowed_origins="https://secure.example.org")
    allowed = join(client, headers={"Origin": "https://secure.example.org"}, format="json", **form(path))
    assert allowed.status_code == 200
    assert allowed["Access-Control-Allow-Origin"] == "https://secure.example.org"
    refused = join(
        client,
        headers={"Origin": "https://elsewhere.example"},
        format="json",
        **form(path, phone="2025550144"),
    )
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused
    assert not Profile.objects.filter(phone_number="+12025550144").exists()

    preflight = client.options("/profiles/join", headers={"Origin": "https://secure.example.org"})
    assert preflight.status_code == 204 and preflight["Access-Control-Allow-Methods"] == "POST"
    stranger = client.options("/profiles/join", headers={"Origin": "https://elsewhere.example"})
    assert "Access-Control-Allow-Origin" not in stranger


def test_donation_form_opt_in_keeps_the_wording(client, organization, path):
    snippet = DonationFormSnippet.objects.create(organization=organization, opt_in_path=path)
    join(client, **form(path, snippet_key=snippet.key, consent_wording="Text me about rivers."))
    event = ConsentEvent.objects.get()
    assert (event.channel, event.consent_wording) == (Channel.DONATION_FORM, "Text me about rivers.")
    bad = join(client, format="json", **form(path, phone="2025550144", snippet_key="ds_wrong"))
    assert "snippet_key 'ds_wrong'" in bad.json()["error"]["message"]


def test_join_is_post_only(client):
    assert client.get("/profiles/join").status_code == 405


def test_inactive_path_is_refused_before_anything_is_saved(client, path):
    OptInPath.objects.filter(pk=path.pk).update(active=False)
    answer = join(client, format="json", **form(path))
    assert answer.status_code == 400
    assert "is inactive" in answer.json()["error"]["message"]
    assert not Profile.objects.exists()
