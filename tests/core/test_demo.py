"""`lumisync demo` prepares an organization, an integration synced with the simulator, and a login."""

import io
import re

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from lumisync.accounts.models import Membership, Organization
from lumisync.core import crypto
from lumisync.core.management.commands.demo import PEOPLE
from lumisync.datasync.models import Integration, SyncRun
from lumisync.subscribers.models import Campaign, OptInPath, Profile, Subscription


def object_counts(organization: Organization) -> dict[str, int]:
    return {
        model.__name__: model.objects.filter(organization=organization).count()
        for model in (Campaign, OptInPath, Profile, Membership, Integration)
    } | {"Subscription": Subscription.objects.filter(campaign__organization=organization).count()}


@pytest.mark.django_db(transaction=True)
def test_demo_sets_up_a_synced_organization_and_prints_a_working_login(settings, tmp_path):
    settings.LUMISYNC_ALLOW_PRIVATE_HOSTS = True
    settings.LUMISYNC_ALLOW_INSECURE_HTTP = True
    # No keys in the environment, as on a fresh machine: the first run writes the key file.
    settings.LUMISYNC_ENCRYPTION_KEYS = ""
    key_file = tmp_path / "home" / "encryption.keys"
    settings.LUMISYNC_KEY_FILE = key_file
    crypto._keyring.cache_clear()
    out = io.StringIO()
    call_command("demo", no_serve=True, constituents=60, stdout=out)

    text = out.getvalue()
    assert f"Wrote a new encryption key file: {key_file}" in text
    assert key_file.stat().st_mode & 0o777 == 0o600
    keys = key_file.read_text()
    password = re.search(r"password:\s+(\S+)", text).group(1)
    assert authenticate(username="admin", password=password) is not None
    organization = Organization.objects.get(slug="demo")
    assert organization.campaigns.count() == 2
    paths = OptInPath.objects.filter(organization=organization)
    assert set(paths.filter(kind=OptInPath.Kind.WEB).values_list("name", flat=True)) == {
        "Website sign-up",
        "Donation form opt-in",
    }
    assert list(paths.filter(kind=OptInPath.Kind.KEYWORD).values_list("keyword", flat=True)) == ["RIVERS"]
    seeded = Profile.objects.filter(organization=organization, phone_number__in=[p[0] for p in PEOPLE])
    assert sorted(seeded.values_list("phone_number", "first_name")) == [p[:2] for p in PEOPLE]
    assert all(profile.subscriptions.exists() for profile in seeded)
    integration = Integration.objects.get(organization=organization)
    assert integration.active
    run = SyncRun.objects.get(integration=integration)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert Profile.objects.filter(organization=organization, constituent_id__isnull=False).exists()
    assert "Inbound sync run" in text
    counts = object_counts(organization)

    again = io.StringIO()
    call_command("demo", no_serve=True, constituents=60, stdout=again)
    new_password = re.search(r"password:\s+(\S+)", again.getvalue()).group(1)
    assert new_password != password
    assert object_counts(organization) == counts
    assert "encryption key file" not in again.getvalue()
    assert key_file.read_text() == keys
