"""Who may call the API, and what each caller sees."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from mcapi_testing import basic, error_of

from lumisync.accounts.models import Membership, Role
from lumisync.mcapi.models import ApiKey, digest_token
from lumisync.subscribers import services as subscribers
from lumisync.subscribers.models import Channel

pytestmark = pytest.mark.django_db

PASSWORD = "s3cret-Pass-123"  # what make_user gives every test user


def heading_and_message(response) -> tuple[str, str]:
    html = response.content.decode()
    return (
        re.search(r"<h4>(.*?)</h4>", html, re.S).group(1).strip(),
        re.search(r"<p>(.*?)</p>", html, re.S).group(1).strip(),
    )


def test_a_key_is_stored_only_as_its_digest(organization):
    key, token = ApiKey.issue(organization, "export")
    assert token.startswith("lsk_") and len(token) > 40
    assert key.digest == digest_token(token)
    assert token not in repr(key) and token not in str(key)
    assert not ApiKey.objects.filter(digest=token).exists()


def test_bearer_key_reads_its_organization(api, organization, campaign):
    root = api("GET", "campaigns")
    assert root.get("success") == "true"
    assert [c.findtext("name") for c in root.iter("campaign")] == ["River Alerts"]


def test_no_credentials_is_401_with_an_html_page(api):
    response = api.raw("GET", "campaigns", auth="")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    title, message = heading_and_message(response)
    assert title == "Unauthorized"
    assert "Bearer" in message


def test_revoked_key_is_refused(api, organization):
    key = ApiKey.objects.get(organization=organization)
    key.revoked_at = timezone.now()
    key.save()
    response = api.raw("GET", "campaigns")
    assert response.status_code == 401
    assert "revoked" in heading_and_message(response)[1]


def test_unknown_key_is_refused_and_not_echoed(api):
    response = api.raw("GET", "campaigns", auth="Bearer lsk_not-a-real-key")
    assert response.status_code == 401
    assert b"lsk_not-a-real-key" not in response.content


def test_a_signed_in_browser_session_does_not_authenticate(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/api/campaigns")
    assert response.status_code == 401


def test_basic_auth_with_email_and_password(api, admin_user, campaign):
    root = api("GET", "campaigns", auth=basic(admin_user.email, PASSWORD))
    assert root.get("success") == "true"


class RecordingCache:
    """The cache, with a record of what is stored in it."""

    def __init__(self):
        self.stored = []

    def get(self, key):
        return cache.get(key)

    def set(self, key, value, timeout):
        self.stored.append((key, value))
        cache.set(key, value, timeout)


def test_a_verified_password_is_remembered_not_hashed_on_every_call(api, admin_user, campaign, monkeypatch):
    recording = RecordingCache()
    monkeypatch.setattr("lumisync.mcapi.auth.cache", recording)
    hashings = []
    check_password = type(admin_user).check_password

    def counting_check_password(user, raw):
        hashings.append(raw)
        return check_password(user, raw)

    monkeypatch.setattr(type(admin_user), "check_password", counting_check_password)
    for _ in range(3):
        assert api("GET", "campaigns", auth=basic(admin_user.email, PASSWORD)).get("success") == "true"

    assert len(hashings) == 1
    assert recording.stored and all(PASSWORD not in repr(entry) for entry in recording.stored)


def test_a_changed_password_is_refused_at_once(api, admin_user, campaign):
    old = basic(admin_user.email, PASSWORD)
    assert api.raw("GET", "campaigns", auth=old).status_code == 200
    admin_user.set_password("n3w-Pass-456")
    admin_user.save()

    assert api.raw("GET", "campaigns", auth=old).status_code == 401
    assert api.raw("GET", "campaigns", auth=basic(admin_user.email, "n3w-Pass-456")).status_code == 200


def test_basic_auth_wrong_password(api, admin_user):
    response = api.raw("GET", "campaigns", auth=basic(admin_user.email, "wrong"))
    assert response.status_code == 401
    assert "password" in heading_and_message(response)[1]


def test_user_of_several_organizations_must_name_the_company(
    api, admin_user, organization, other_organization, campaign
):
    Membership.objects.create(user=admin_user, organization=other_organization, role=Role.STAFF)
    auth = basic(admin_user.email, PASSWORD)
    refused = api.raw("GET", "campaigns", auth=auth)
    assert refused.status_code == 401
    message = heading_and_message(refused)[1]
    assert "company" in message and organization.slug in message and other_organization.slug in message

    mine = api("GET", "campaigns", auth=auth, company=organization.slug)
    assert [c.findtext("name") for c in mine.iter("campaign")] == ["River Alerts"]
    theirs = api("GET", "campaigns", auth=auth, company=other_organization.slug)
    assert list(theirs.iter("campaign")) == []


def test_key_with_another_company_is_refused(api, other_organization):
    response = api.raw("GET", "campaigns", company=other_organization.slug)
    assert response.status_code == 401


def test_unknown_method_is_404_page(api):
    response = api.raw("GET", "broadcasts")
    assert response.status_code == 404
    assert heading_and_message(response)[0] == "Not Found"


def test_rate_limit_answers_429_with_retry_after(api, settings):
    settings.LUMISYNC_API_BURST = 2
    settings.LUMISYNC_API_RATE_PER_MINUTE = 1
    assert api.raw("GET", "campaigns").status_code == 200
    assert api.raw("GET", "campaigns").status_code == 200
    limited = api.raw("GET", "campaigns")
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert heading_and_message(limited)[0] == "Too Many Requests"


def test_rate_limit_is_per_key(api, other_api, settings):
    settings.LUMISYNC_API_BURST = 1
    settings.LUMISYNC_API_RATE_PER_MINUTE = 1
    assert api.raw("GET", "campaigns").status_code == 200
    assert api.raw("GET", "campaigns").status_code == 429
    assert other_api.raw("GET", "campaigns").status_code == 200


def test_tenant_isolation(api, other_api, organization, path, campaign):
    profile, _ = subscribers.get_or_create_profile(
        organization, "+12025550143", channel=Channel.API, first_name="Ada"
    )
    subscribers.opt_in(profile, path, channel=Channel.API)

    assert [p.findtext("first_name") for p in api("GET", "profiles").iter("profile")] == ["Ada"]
    assert list(other_api("GET", "profiles").iter("profile")) == []
    assert error_of(other_api("GET", "profile", phone_number="+12025550143"))[0] == "5"
    assert error_of(other_api("GET", "campaign_subscribers", campaign_id=campaign.pk))[0] == "1"
    assert (
        error_of(other_api("POST", "profile_update", phone_number="+12025550199", opt_in_path_id=path.pk))[0]
        == "4"
    )
    assert error_of(other_api("POST", "profile_opt_out", phone_number="+12025550143"))[0] == "5"
    assert list(other_api("GET", "campaigns").iter("campaign")) == []
    # Org B's refused calls changed nothing of org A's.
    profile.refresh_from_db()
    assert profile.opted_out_at is None


def test_api_and_join_need_no_csrf_token(token, organization, path):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/profile_update", {"phone_number": "2025550143"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200 and b'success="true"' in response.content
    joined = client.post("/profiles/join", {"opt_in_path[]": path.public_key, "person[phone]": "2025550144"})
    assert joined.status_code == 200


def test_repeated_wrong_passwords_cool_off(api, admin_user, settings):
    settings.LUMISYNC_LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        assert api.raw("GET", "campaigns", auth=basic(admin_user.email, "wrong")).status_code == 401
    cooling = api.raw("GET", "campaigns", auth=basic(admin_user.email, PASSWORD))
    assert cooling.status_code == 429
    assert "try again later" in heading_and_message(cooling)[1]


def test_unexpected_failure_is_a_500_page(api, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("lumisync.mcapi.services.list_campaigns", broken)
    response = api.raw("GET", "campaigns")
    assert response.status_code == 500
    assert heading_and_message(response) == (
        "Internal Server Error",
        "The call failed on the server; it was logged.",
    )
