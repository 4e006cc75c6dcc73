"""The pages a person sees after posting the public web opt-in form (/profiles/join) without JSON.

They carry the product's stylesheet and layout, and a refusal names the field and the value that was sent.
"""

from __future__ import annotations

import pytest

from lumisync.subscribers.models import Campaign, OptInPath, Profile

pytestmark = pytest.mark.django_db

STYLESHEET = '<link rel="stylesheet" href="/static/lumisync/app.css">'


def join(client, *, headers=None, **fields):
    return client.post("/profiles/join", fields, headers=headers or {})


def form(path, phone="202-555-0143", **extra):
    return {"opt_in_path[]": path.public_key, "person[phone]": phone, **extra}


def alert(page: str) -> str:
    return page.split('<p role="alert" class="error">')[1].split("</p>")[0]


def assert_styled(page: str, title: str) -> None:
    assert STYLESHEET in page
    assert '<main class="narrow">' in page and '<div class="card">' in page
    assert f"<title>{title}</title>" in page and f"<h1>{title}</h1>" in page


@pytest.fixture
def foreign_path(other_organization):
    campaign = Campaign.objects.create(organization=other_organization, name="Air Alerts")
    return OptInPath.objects.create(organization=other_organization, campaign=campaign, name="Air web")


def test_the_thank_you_page_uses_the_product_styling(client, path):
    response = join(client, **form(path))
    assert response.status_code == 200
    assert_styled(response.content.decode(), "Thank you")


def test_the_linked_stylesheet_is_served(client, db):
    response = client.get("/static/lumisync/app.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b"main.narrow" in b"".join(response.streaming_content)


def test_a_bad_number_page_is_styled_and_names_field_and_value(client, path):
    response = join(client, headers={"Referer": "https://www.example.org/join"}, **form(path, phone="555"))
    page = response.content.decode()
    assert response.status_code == 400
    assert_styled(page, "Invalid phone number")
    assert alert(page) == (
        "Invalid phone number: person[phone]: &#x27;555&#x27; is not a valid phone number for region US."
    )
    assert '<a href="https://www.example.org/join">Back to the form</a>' in page
    assert not Profile.objects.exists()


def test_a_bad_number_is_read_with_the_organizations_region(client, organization, path):
    organization.phone_region = "GB"
    organization.save()
    page = join(client, **form(path, phone="555")).content.decode()
    assert "person[phone]: &#x27;555&#x27; is not a valid phone number for region GB." in alert(page)
    assert join(client, **form(path, phone="07911 123456")).status_code == 200
    assert Profile.objects.get().phone_number == "+447911123456"


@pytest.mark.parametrize(
    ("fields", "title", "message"),
    [
        (
            {"person[phone]": "2025550143"},
            "Missing parameter",
            "Missing parameter: opt_in_path[] is required (an opt-in path key or id).",
        ),
        (
            {"opt_in_path[]": "OPNOPE", "person[phone]": "2025550143"},
            "Invalid opt-in path",
            "Invalid opt-in path: opt_in_path[] &#x27;OPNOPE&#x27; is not an opt-in path.",
        ),
    ],
)
def test_other_refusals_are_styled_pages_naming_the_parameter(client, db, fields, title, message):
    response = join(client, **fields)
    page = response.content.decode()
    assert response.status_code == 400
    assert_styled(page, title)
    assert alert(page) == message


def test_a_bad_friends_number_is_named_on_the_page(client, path):
    page = join(
        client, **form(path, **{"friends[]": "12", "friends_opt_in_path": path.public_key})
    ).content.decode()
    assert alert(page) == (
        "Invalid phone number: friends[]: &#x27;12&#x27; is not a valid phone number for region US."
    )
    assert not Profile.objects.exists()


def test_a_typed_value_is_shown_escaped(client, path):
    page = join(client, **form(path, phone="<script>alert(1)</script>")).content.decode()
    assert "<script>" not in page
    assert "&#x27;&lt;script&gt;alert(1)&lt;/script&gt;&#x27;" in alert(page)


@pytest.mark.parametrize("referer", ["javascript:alert(1)", "/join", ""])
def test_the_back_link_is_only_a_web_address(client, path, referer):
    page = join(client, headers={"Referer": referer}, **form(path, phone="555")).content.decode()
    assert "Back to the form" not in page


def test_get_and_rate_limit_pages_are_styled_too(client, path, settings):
    refused = client.get("/profiles/join")
    assert refused.status_code == 405 and refused["Allow"] == "POST, OPTIONS"
    assert_styled(refused.content.decode(), "Method Not Allowed")
    settings.LUMISYNC_JOIN_BURST = 1
    settings.LUMISYNC_JOIN_RATE_PER_MINUTE = 1
    join(client, **form(path))
    limited = join(client, **form(path, phone="2025550144"))
    assert limited.status_code == 429
    assert_styled(limited.content.decode(), "Too Many Requests")
    assert "Too many sign-ups from this address; retry in" in alert(limited.content.decode())


def test_a_second_path_of_another_organization_is_refused(client, path, foreign_path):
    response = join(client, **{**form(path), "opt_in_path[]": [path.public_key, foreign_path.public_key]})
    assert response.status_code == 400
    assert alert(response.content.decode()) == (
        f"Invalid opt-in path: opt_in_path[] &#x27;{foreign_path.public_key}&#x27; is not an opt-in path "
        "of this organization."
    )
    assert not Profile.objects.exists()


def test_friends_cannot_join_another_organizations_path(client, path, foreign_path):
    response = join(
        client,
        **form(path, **{"friends[]": "2025550150", "friends_opt_in_path": str(foreign_path.pk)}),
    )
    assert response.status_code == 400
    assert alert(response.content.decode()) == (
        f"Invalid opt-in path: friends_opt_in_path &#x27;{foreign_path.pk}&#x27; is not an opt-in path "
        "of this organization."
    )
    assert not Profile.objects.exists()
    assert not foreign_path.campaign.subscriptions.exists()
