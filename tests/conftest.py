"""Fixtures every test package may use: encryption keys, organizations and their people."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from lumisync.core import crypto

TEST_KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The production hasher is deliberately slow; tests hash many passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _encryption_keys(settings):
    settings.LUMISYNC_ENCRYPTION_KEYS = TEST_KEY
    crypto._keyring.cache_clear()
    yield
    crypto._keyring.cache_clear()


@pytest.fixture
def make_organization(db):
    from lumisync.accounts.models import Organization

    def make(name: str = "Save the Rivers", **fields) -> Organization:
        slug = fields.pop("slug", name.lower().replace(" ", "-"))
        return Organization.objects.create(name=name, slug=slug, **fields)

    return make


@pytest.fixture
def organization(make_organization):
    return make_organization()


@pytest.fixture
def other_organization(make_organization):
    return make_organization("Clean Air Now", time_zone="America/Los_Angeles")


@pytest.fixture
def make_user(db):
    from django.contrib.auth import get_user_model

    from lumisync.accounts.models import Membership, Role

    def make(
        organization,
        *,
        role: str = Role.ADMINISTRATOR,
        username: str | None = None,
        password="s3cret-Pass-123",
    ):
        user_model = get_user_model()
        name = username or f"{role}-{organization.slug}"
        user = user_model.objects.create_user(username=name, email=f"{name}@example.org", password=password)
        Membership.objects.create(user=user, organization=organization, role=role)
        return user

    return make


@pytest.fixture
def admin_user(make_user, organization):
    return make_user(organization)


@pytest.fixture
def admin_client(client, admin_user):
    """The test client signed in as ``admin_user``: an Administrator of ``organization``, not a superuser."""
    client.force_login(admin_user)
    return client
