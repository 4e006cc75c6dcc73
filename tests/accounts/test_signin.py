"""Sign-in, sign-out, CSRF and the sign-in cool-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from lumisync.accounts import throttling
from lumisync.accounts.models import LoginAttempt

PASSWORD = "s3cret-Pass-123"
LOGIN = reverse("accounts:login")
DASHBOARD = reverse("accounts:dashboard")


@pytest.fixture
def throttle(settings):
    settings.LUMISYNC_LOGIN_MAX_FAILURES = 3
    settings.LUMISYNC_LOGIN_COOLOFF_SECONDS = 600
    return settings


def sign_in(client, username, password, address="203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_sign_in_page_has_labelled_fields(client, db):
    page = client.get(LOGIN).content.decode()
    assert '<label for="id_username">' in page
    assert '<label for="id_password">' in page
    assert "csrfmiddlewaretoken" in page


def test_wrong_password_is_refused_then_right_one_signs_in(client, admin_user, organization):
    refused = sign_in(client, admin_user.username, "not-the-password")
    assert refused.status_code == 200
    assert "Please enter a correct username and password" in refused.content.decode()
    assert client.get(DASHBOARD).status_code == 302

    accepted = sign_in(client, admin_user.username, PASSWORD)
    assert accepted.status_code == 302
    assert accepted["Location"] == DASHBOARD
    assert organization.name in client.get(DASHBOARD).content.decode()


def test_sign_in_follows_next_within_the_site(client, admin_user):
    profiles = reverse("subscribers:profile_list")
    response = client.post(
        f"{LOGIN}?next={profiles}", {"username": admin_user.username, "password": PASSWORD, "next": profiles}
    )
    assert response["Location"] == profiles


def test_sign_out_needs_post(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("accounts:logout")).status_code == 405
    assert client.get(DASHBOARD).status_code == 200

    response = client.post(reverse("accounts:logout"))
    assert response["Location"] == LOGIN
    assert client.get(DASHBOARD).status_code == 302


def test_sign_in_without_csrf_token_is_forbidden(admin_user):
    client = Client(enforce_csrf_checks=True)
    response = client.post(LOGIN, {"username": admin_user.username, "password": PASSWORD})
    assert response.status_code == 403
    assert "Form out of date" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_failures_for_a_username_cool_off_even_the_right_password(client, admin_user, throttle):
    start = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        for minute in range(3):
            clock.move_to(start + timedelta(minutes=minute))
            sign_in(client, admin_user.username.upper(), "wrong", address=f"198.51.100.{minute}")

        # Another address and the right password: the username itself is cooling off.
        clock.move_to(start + timedelta(minutes=5))
        refused = sign_in(client, admin_user.username, PASSWORD, address="192.0.2.99")
        page = refused.content.decode()
        assert refused.status_code == 200
        assert "Too many failed sign-in attempts" in page
        assert "Try again after 14:12 UTC (in about 7 minutes)" in page
        assert "_auth_user_id" not in client.session

        clock.move_to(start + timedelta(minutes=12, seconds=1))
        assert sign_in(client, admin_user.username, PASSWORD, address="192.0.2.99").status_code == 302


def test_refused_attempts_do_not_extend_the_cool_off(client, admin_user, throttle):
    start = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(3):
            sign_in(client, admin_user.username, "wrong")
        for minute in (1, 5, 9):
            clock.move_to(start + timedelta(minutes=minute))
            assert "Too many failed" in sign_in(client, admin_user.username, "wrong").content.decode()
        clock.move_to(start + timedelta(minutes=10, seconds=1))
        assert sign_in(client, admin_user.username, PASSWORD).status_code == 302


def test_failures_from_one_address_cool_off_every_username(client, make_user, organization, throttle):
    user = make_user(organization, username="rivers-admin")
    for name in ("alice", "bob", "carol"):
        sign_in(client, name, "guess", address="203.0.113.50")

    assert (
        "Too many failed" in sign_in(client, user.username, PASSWORD, address="203.0.113.50").content.decode()
    )
    assert sign_in(client, user.username, PASSWORD, address="203.0.113.51").status_code == 302


def test_a_successful_sign_in_forgets_the_usernames_failures(client, admin_user, throttle):
    for _ in range(2):
        sign_in(client, admin_user.username, "wrong", address="198.51.100.1")
    assert sign_in(client, admin_user.username, PASSWORD, address="198.51.100.2").status_code == 302
    client.logout()
    for _ in range(2):
        sign_in(client, admin_user.username, "wrong", address="198.51.100.3")
    assert sign_in(client, admin_user.username, PASSWORD, address="198.51.100.4").status_code == 302


def test_failures_are_stored_and_old_ones_pruned(client, admin_user, throttle):
    start = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        sign_in(client, "someone", "wrong", address="198.51.100.9")
        assert list(LoginAttempt.objects.values_list("username", "address")) == [("someone", "198.51.100.9")]

        clock.move_to(start + timedelta(minutes=11))
        sign_in(client, "someone-else", "wrong", address="198.51.100.10")
        assert list(LoginAttempt.objects.values_list("username", flat=True)) == ["someone-else"]


def test_client_address_behind_trusted_proxies(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.1, 198.51.100.23, 10.0.0.1")
    settings.LUMISYNC_TRUSTED_PROXY_COUNT = 0
    assert throttling.client_address(request) == "10.0.0.2"
    settings.LUMISYNC_TRUSTED_PROXY_COUNT = 2
    assert throttling.client_address(request) == "198.51.100.23"
    assert throttling.client_address(rf.get("/", REMOTE_ADDR="not-an-address")) is None
