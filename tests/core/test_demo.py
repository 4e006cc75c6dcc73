"""`lumisync demo` prepares an organization, an integration synced with the simulator, and a login."""

import io
import re

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from lumisync.accounts.models import Organization
from lumisync.datasync.models import Integration, SyncRun
from lumisync.subscribers.models import Profile


@pytest.mark.django_db(transaction=True)
def test_demo_sets_up_a_synced_organization_and_prints_a_working_login(settings, tmp_path):
    settings.LUMISYNC_ALLOW_PRIVATE_HOSTS = True
    settings.LUMISYNC_ALLOW_INSECURE_HTTP = True
    out = io.StringIO()
    call_command("demo", no_serve=True, constituents=60, stdout=out)

    text = out.getvalue()
    password = re.search(r"password:\s+(\S+)", text).group(1)
    assert authenticate(username="admin", password=password) is not None
    organization = Organization.objects.get(slug="demo")
    assert organization.campaigns.count() == 2
    integration = Integration.objects.get(organization=organization)
    assert integration.active
    run = SyncRun.objects.get(integration=integration)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert Profile.objects.filter(organization=organization, constituent_id__isnull=False).exists()
    assert "Inbound sync run" in text

    again = io.StringIO()
    call_command("demo", no_serve=True, constituents=60, stdout=again)
    new_password = re.search(r"password:\s+(\S+)", again.getvalue()).group(1)
    assert new_password != password
    assert Organization.objects.filter(slug="demo").count() == 1
