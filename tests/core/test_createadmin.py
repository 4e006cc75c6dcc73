"""`lumisync createadmin`: an Administrator of one organization, with a password the app's rules accept."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from lumisync.accounts.models import Membership, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def createadmin(monkeypatch):
    """Run the command with ``arguments`` (one string) and ``stdin``; its output."""

    def run(arguments: str, stdin: str = "") -> str:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        out = io.StringIO()
        call_command("createadmin", *arguments.split(), stdout=out)
        return out.getvalue()

    return run


def test_generated_password_is_printed_once_and_signs_in(createadmin, organization):
    out = createadmin(f"--org {organization.slug} --username ada --email ada@example.org")
    assert f"Administrator 'ada' of {organization.name}." in out
    password = re.search(r"^Password: (\S+)$", out, re.MULTILINE).group(1)
    user = authenticate(username="ada", password=password)
    assert user is not None and user.email == "ada@example.org"
    assert Membership.objects.get(user=user, organization=organization).role == Role.ADMINISTRATOR


def test_password_from_stdin_is_used_and_not_printed(createadmin, organization):
    password = "river-bank-lantern-42"
    out = createadmin(f"--org {organization.slug} --username ada --password-stdin", stdin=password + "\n")
    assert password not in out and "Password:" not in out
    assert authenticate(username="ada", password=password) is not None


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("1", "This password is too short. It must contain at least 12 characters."),
        ("password1234", "This password is too common."),
        ("204857361945", "This password is entirely numeric."),
    ],
)
def test_weak_password_from_stdin_is_refused_and_nothing_is_created(
    createadmin, organization, password, reason
):
    with pytest.raises(CommandError, match=re.escape(f"The password is refused: {reason}")):
        createadmin(f"--org {organization.slug} --username weak --password-stdin", stdin=password + "\n")
    assert not get_user_model().objects.filter(username="weak").exists()


def test_weak_password_leaves_an_existing_users_password_and_role_alone(createadmin, organization, make_user):
    user = make_user(organization, role=Role.STAFF, username="ada")
    with pytest.raises(CommandError, match="too short"):
        createadmin(f"--org {organization.slug} --username ada --password-stdin", stdin="short\n")
    assert authenticate(username="ada", password="s3cret-Pass-123") == user
    assert Membership.objects.get(user=user, organization=organization).role == Role.STAFF


def test_empty_password_from_stdin_is_refused(createadmin, organization):
    with pytest.raises(CommandError, match="The password read from standard input is empty."):
        createadmin(f"--org {organization.slug} --username ada --password-stdin", stdin="\n")


def test_existing_staff_member_becomes_an_administrator(createadmin, organization, make_user):
    user = make_user(organization, role=Role.STAFF, username="ada")
    createadmin(f"--org {organization.slug} --username ada")
    assert Membership.objects.get(user=user, organization=organization).role == Role.ADMINISTRATOR
    assert Membership.objects.filter(user=user).count() == 1


def test_unknown_organization_is_named(createadmin, organization):
    with pytest.raises(CommandError, match="No organization with slug 'nowhere'."):
        createadmin("--org nowhere --username ada")
