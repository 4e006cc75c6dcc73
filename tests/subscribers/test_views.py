"""The admin pages for profiles, campaigns and opt-in paths."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from lumisync.accounts.models import Role
from lumisync.subscribers import services
from lumisync.subscribers.models import Campaign, Channel, OptInPath, Profile

RIVERS_MOBILE = "+12025550143"


@pytest.fixture
def campaign(organization):
    return Campaign.objects.create(organization=organization, name="River Alerts")


@pytest.fixture
def web_path(organization, campaign):
    return OptInPath.objects.create(
        organization=organization,
        campaign=campaign,
        name="Website footer",
        welcome_message="Thanks for joining River Alerts! Reply HELP for help, STOP to end.",
    )


@pytest.fixture
def jane(organization, web_path):
    profile, _ = services.get_or_create_profile(
        organization,
        "(202) 555-0143",
        channel=Channel.WEB,
        first_name="Jane",
        last_name="Doe",
        email="Jane.Doe@Example.org",
        constituent_id="1001234",
    )
    services.opt_in(
        profile,
        web_path,
        channel=Channel.SMS,
        actor="+12025550143",
        source_detail="Keyword RIVERS",
        consent_wording="Text RIVERS to join River Alerts.",
    )
    return profile


@pytest.fixture
def signed_in(client, make_user, organization):
    # No password: these tests sign in with force_login, so they skip the deliberately slow hashing.
    client.force_login(make_user(organization, password=None))
    return client


def profile_rows(response) -> list[str]:
    return [profile.phone_number for profile in response.context["page"]]


@pytest.mark.parametrize(
    "typed",
    ["(202) 555-0143", "202.555.0143", "1-202-555-0143", "+1 202 555 0143", "2025550143", "555-0143", "0143"],
)
def test_search_reads_a_mobile_number_in_any_common_format(signed_in, jane, organization, typed):
    services.get_or_create_profile(organization, "+1 415 555 0100", channel=Channel.WEB)
    response = signed_in.get(reverse("subscribers:profile_list"), {"q": typed})
    assert profile_rows(response) == [RIVERS_MOBILE]


def test_search_reads_numbers_with_the_organizations_region(signed_in, organization):
    organization.phone_region = "GB"
    organization.save()
    services.get_or_create_profile(organization, "07911 123456", channel=Channel.WEB)
    services.get_or_create_profile(organization, "07911 123457", channel=Channel.WEB)
    response = signed_in.get(reverse("subscribers:profile_list"), {"q": "07911 123456"})
    assert profile_rows(response) == ["+447911123456"]


@pytest.mark.parametrize("typed", ["jane.doe@example.org", "EXAMPLE.ORG", "jane doe", "Doe", "1001234"])
def test_search_by_email_name_or_constituent_id(signed_in, jane, organization, typed):
    services.get_or_create_profile(
        organization, "+1 415 555 0100", channel=Channel.WEB, first_name="Bob", email="bob@rivers.test"
    )
    response = signed_in.get(reverse("subscribers:profile_list"), {"q": typed})
    assert profile_rows(response) == [RIVERS_MOBILE]


def test_search_without_a_match_says_so(signed_in, jane):
    response = signed_in.get(reverse("subscribers:profile_list"), {"q": "nobody@nowhere.test"})
    assert profile_rows(response) == []
    assert "No profile matches “nobody@nowhere.test”" in response.content.decode()


def test_profiles_are_paged_fifty_at_a_time(signed_in, organization):
    Profile.objects.bulk_create(
        Profile(
            organization=organization,
            phone_number=f"+1202555{n:04d}",
            source=Channel.IMPORT,
            last_name="Smith",
        )
        for n in range(120)
    )
    url = reverse("subscribers:profile_list")
    first = signed_in.get(url, {"q": "smith"})
    assert len(profile_rows(first)) == 50
    assert "Page 1 of 3" in first.content.decode()
    assert "?q=smith&amp;page=2" in first.content.decode()
    last = signed_in.get(url, {"q": "smith", "page": "3"})
    assert len(profile_rows(last)) == 20
    seen = (
        set(profile_rows(first))
        | set(profile_rows(signed_in.get(url, {"q": "smith", "page": 2})))
        | set(profile_rows(last))
    )
    assert len(seen) == 120
    # A page number past the end or not a number shows the nearest page rather than an error.
    assert signed_in.get(url, {"page": "99"}).context["page"].number == 3
    assert signed_in.get(url, {"page": "x"}).context["page"].number == 1


def test_profile_detail_shows_fields_subscriptions_with_provenance_and_history(signed_in, jane, campaign):
    services.opt_out(
        jane, campaign, channel=Channel.ADMIN, actor="admin-save-the-rivers", source_detail="Phone call"
    )
    services.record_donation(
        jane.organization,
        transaction_id="CONF-77",
        amount="25.00",
        profile=jane,
        channel=Channel.LUMINATE,
        donated_at=datetime(2026, 2, 1, 12, 0, tzinfo=UTC),
    )
    services.record_call(
        jane,
        alert_id="4411",
        recipient_name="Sen. Example",
        started_at=datetime(2026, 2, 2, 15, 0, tzinfo=UTC),
        duration_seconds=95,
    )
    page = signed_in.get(reverse("subscribers:profile_detail", args=[jane.pk])).content.decode()
    for text in (
        RIVERS_MOBILE,
        "Jane Doe",
        "Jane.Doe@example.org",
        "1001234",
        "River Alerts",
        "Opted-Out",
        # Provenance of the opt-in: channel, actor, detail, wording.
        "Text message by +12025550143",
        "Keyword RIVERS",
        "Text RIVERS to join River Alerts.",
        # ... and of the opt-out.
        "Administrator by admin-save-the-rivers",
        "Phone call",
        # Donations, calls and the welcome message queued by the opt-in.
        "CONF-77",
        "25.00",
        "Sen. Example",
        "95 s",
        "Thanks for joining River Alerts!",
    ):
        assert text in page, text
    history = page.split('id="consent-history"')[1].split("</table>")[0]
    assert history.index("Opted out") < history.index("Opted in")
    assert reverse("subscribers:profile_consent_csv", args=[jane.pk]) in page


def test_consent_history_downloads_as_csv(signed_in, jane, campaign):
    services.opt_out(jane, campaign, channel=Channel.ADMIN, actor="admin-save-the-rivers")
    response = signed_in.get(reverse("subscribers:profile_consent_csv", args=[jane.pk]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="consent-history-12025550143.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["Time (UTC)", "Event", "Campaign"]
    assert [(row[1], row[2], row[4]) for row in rows[1:]] == [
        ("Opted in", "River Alerts", "Text message"),
        ("Opted out", "River Alerts", "Administrator"),
    ]


def test_staff_members_use_the_profile_and_campaign_pages(client, make_user, organization, jane, campaign):
    client.force_login(make_user(organization, role=Role.STAFF, password=None))
    assert client.get(reverse("subscribers:profile_detail", args=[jane.pk])).status_code == 200
    assert client.get(reverse("subscribers:campaign_edit", args=[campaign.pk])).status_code == 200


def test_pages_need_sign_in(client, jane):
    url = reverse("subscribers:profile_detail", args=[jane.pk])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={url}"


def test_create_and_edit_a_campaign(signed_in, organization):
    response = signed_in.post(
        reverse("subscribers:campaign_create"),
        {"name": "  Clean Water  ", "description": "Tap water news", "active": "on"},
    )
    campaign = Campaign.objects.get(organization=organization)
    assert campaign.name == "Clean Water"
    assert response["Location"] == reverse("subscribers:campaign_edit", args=[campaign.pk])

    signed_in.post(reverse("subscribers:campaign_edit", args=[campaign.pk]), {"name": "Clean Water Alerts"})
    campaign.refresh_from_db()
    assert (campaign.name, campaign.active) == ("Clean Water Alerts", False)
    listing = signed_in.get(reverse("subscribers:campaign_list")).content.decode()
    assert "Clean Water Alerts" in listing


def test_a_duplicate_campaign_name_is_refused_naming_it(signed_in, organization, campaign):
    response = signed_in.post(reverse("subscribers:campaign_create"), {"name": "river alerts"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was saved" in page
    assert "Name</a>: A campaign named &#x27;river alerts&#x27; already exists" in page
    assert Campaign.objects.filter(organization=organization).count() == 1


def test_create_a_keyword_path_shows_its_id_and_public_key(signed_in, organization, campaign):
    response = signed_in.post(
        reverse("subscribers:path_create", args=[campaign.pk]),
        {
            "campaign": campaign.pk,
            "name": "Rally keyword",
            "kind": "keyword",
            "keyword": " rally ",
            "welcome_message": "Welcome to River Alerts! Msg&data rates may apply. Reply HELP for help, STOP to end.",
            "active": "on",
        },
        follow=True,
    )
    path = OptInPath.objects.get(organization=organization, name="Rally keyword")
    assert path.keyword == "RALLY"
    page = response.content.decode()
    assert f'<dd class="mono" id="path-id">{path.pk}</dd>' in page
    assert re.fullmatch(r"OP[0-9A-F]{32}", path.public_key) and path.public_key in page
    assert "Opt-in path Rally keyword (River Alerts) created." in page
    assert "does not say how" not in page


def test_saving_a_welcome_without_stop_and_help_warns_but_saves(signed_in, web_path, campaign):
    response = signed_in.post(
        reverse("subscribers:path_edit", args=[web_path.pk]),
        {
            "campaign": campaign.pk,
            "name": web_path.name,
            "kind": "web",
            "keyword": "",
            "welcome_message": "Thanks for joining!",
            "confirmation_prompt": "Reply YES to join. Reply STOP to end.",
            "active": "on",
        },
        follow=True,
    )
    page = response.content.decode()
    web_path.refresh_from_db()
    assert web_path.welcome_message == "Thanks for joining!"
    assert "Welcome message: The message does not say how to stop messages" in page
    assert "Welcome message: The message does not say how to get help" in page
    assert "Confirmation prompt: The message does not say how to get help" in page
    assert "Confirmation prompt: The message does not say how to stop" not in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "keyword", "keyword": "two words"}, "Keyword</a>: &#x27;TWO WORDS&#x27; is not a keyword"),
        ({"kind": "keyword", "keyword": ""}, "Keyword</a>: A keyword path needs the keyword"),
        (
            {"kind": "web", "keyword": "JOIN"},
            "Keyword</a>: Keyword &#x27;JOIN&#x27; is only for keyword paths",
        ),
        (
            {"kind": "keyword", "keyword": "rivers"},
            "Keyword &#x27;RIVERS&#x27; is already used by the opt-in path Existing",
        ),
        ({"kind": "sms"}, "Kind</a>: Select a valid choice. sms is not one of the available choices."),
        ({"name": ""}, "Name</a>: This field is required."),
        (
            {"welcome_message": "Welcome! " * 200},
            "Welcome message</a>: Welcome message is 1799 characters, over the limit of 1600 for one text. "
            '<span class="entered">(entered: “Welcome! Welcome!',
        ),
        (
            {"confirmation_prompt": "y" * 1601},
            "Confirmation prompt</a>: Confirmation prompt is 1601 characters, over the limit of 1600",
        ),
    ],
)
def test_bad_path_input_is_refused_naming_field_and_value(signed_in, organization, campaign, fields, message):
    OptInPath.objects.create(
        organization=organization, campaign=campaign, name="Existing", kind="keyword", keyword="RIVERS"
    )
    data = {"campaign": campaign.pk, "name": "New path", "kind": "web", "keyword": "", **fields}
    response = signed_in.post(reverse("subscribers:path_create", args=[campaign.pk]), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not OptInPath.objects.filter(name="New path").exists()


def test_a_path_cannot_be_moved_to_another_organizations_campaign(signed_in, web_path, other_organization):
    foreign = Campaign.objects.create(organization=other_organization, name="Air Alerts")
    response = signed_in.post(
        reverse("subscribers:path_edit", args=[web_path.pk]),
        {"campaign": foreign.pk, "name": "Moved", "kind": "web"},
    )
    assert (
        f"Campaign</a>: &#x27;{foreign.pk}&#x27; is not one of this organization" in response.content.decode()
    )
    web_path.refresh_from_db()
    assert (web_path.campaign.organization_id, web_path.name) == (web_path.organization_id, "Website footer")


@pytest.fixture
def other_tenant(other_organization):
    campaign = Campaign.objects.create(organization=other_organization, name="Air Alerts")
    path = OptInPath.objects.create(organization=other_organization, campaign=campaign, name="Air web")
    profile, _ = services.get_or_create_profile(other_organization, "+1 415 555 0199", channel=Channel.WEB)
    services.opt_in(profile, path, channel=Channel.SMS)
    return {"campaign": campaign, "path": path, "profile": profile}


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("subscribers:profile_detail", "profile"),
        ("subscribers:profile_consent_csv", "profile"),
        ("subscribers:campaign_edit", "campaign"),
        ("subscribers:path_create", "campaign"),
        ("subscribers:path_edit", "path"),
    ],
)
def test_another_organizations_objects_are_not_found(signed_in, other_tenant, name, target):
    url = reverse(name, args=[other_tenant[target].pk])
    assert signed_in.get(url).status_code == 404
    assert (
        signed_in.post(
            url, {"name": "Taken over", "campaign": other_tenant["campaign"].pk, "kind": "web"}
        ).status_code
        == 404
    )
    other_tenant["campaign"].refresh_from_db()
    other_tenant["path"].refresh_from_db()
    assert other_tenant["campaign"].name == "Air Alerts"
    assert other_tenant["path"].name == "Air web"


def test_another_organizations_profiles_are_not_listed(signed_in, jane, other_tenant):
    everyone = signed_in.get(reverse("subscribers:profile_list"))
    assert profile_rows(everyone) == [RIVERS_MOBILE]
    assert profile_rows(signed_in.get(reverse("subscribers:profile_list"), {"q": "+1 415 555 0199"})) == []
    assert "Air Alerts" not in signed_in.get(reverse("subscribers:campaign_list")).content.decode()


@pytest.mark.parametrize("word", ["STOP", "help", "Start", "YES"])
def test_a_reserved_word_cannot_be_a_keyword(client, admin_user, organization, word):
    campaign = Campaign.objects.create(organization=organization, name="Keywords")
    client.force_login(admin_user)
    response = client.post(
        reverse("subscribers:path_create", args=[campaign.pk]),
        {"name": "Reserved", "kind": "keyword", "keyword": word},
    )
    assert response.status_code == 200
    assert f"&#x27;{word.upper()}&#x27; is reserved" in response.content.decode()
    assert not OptInPath.objects.filter(organization=organization, name="Reserved").exists()
