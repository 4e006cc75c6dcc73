"""Web opt-ins posted while another process writes in bulk: with WAL, IMMEDIATE transactions and a
busy timeout, every write lands and none fails with "database is locked"."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connection

from lumisync.subscribers.models import Campaign, OptInPath, Profile, Subscription

BULK_PROFILES = 3000
OPT_INS = 60

# Prints when it starts writing and when it is done (time.time()), so the test knows the two overlapped.
BULK_WRITER = textwrap.dedent(
    """
    import django, sys, time
    django.setup()
    from django.db import transaction
    from lumisync.subscribers.models import Profile
    organization_id, count = int(sys.argv[1]), int(sys.argv[2])
    print("started", time.time(), flush=True)
    for start in range(0, count, 250):
        with transaction.atomic():
            Profile.objects.bulk_create(
                Profile(organization_id=organization_id, phone_number=f"+1415555{index:04d}", source="import")
                for index in range(start, min(start + 250, count))
            )
    print("done", time.time(), flush=True)
    """
)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite locking is what this test is about")
def test_web_opt_ins_during_a_bulk_write_in_another_process_are_all_kept(
    live_server, transactional_db, organization, settings
):
    settings.LUMISYNC_JOIN_RATE_PER_MINUTE = 100000
    settings.LUMISYNC_JOIN_BURST = 100000
    campaign = Campaign.objects.create(organization=organization, name="Alerts")
    path = OptInPath.objects.create(organization=organization, campaign=campaign, name="Web")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lumisync.settings",
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
    }
    writer = subprocess.Popen(
        [sys.executable, "-c", BULK_WRITER, str(organization.pk), str(BULK_PROFILES)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def post(index: int) -> tuple[int, float, float]:
        started = time.time()
        response = httpx.post(
            f"{live_server.url}/profiles/join",
            data={"opt_in_path[]": path.public_key, "person[phone]": f"+1202555{index:04d}"},
            headers={"Accept": "application/json"},
            timeout=60,
        )
        return response.status_code, started, time.time()

    first_line = writer.stdout.readline()
    with ThreadPoolExecutor(max_workers=4) as pool:
        posts = list(pool.map(post, range(OPT_INS)))
    out, err = writer.communicate(timeout=120)

    assert writer.returncode == 0, err
    assert [status for status, _, _ in posts] == [200] * OPT_INS
    writer_started = float(first_line.split()[1])
    writer_done = float(out.split()[1])
    overlapping = sum(started < writer_done and ended > writer_started for _, started, ended in posts)
    assert overlapping, "no opt-in was posted while the bulk write ran: the test proved nothing"
    assert Profile.objects.filter(phone_number__startswith="+1415555").count() == BULK_PROFILES
    joined = Subscription.objects.filter(campaign=campaign, profile__phone_number__startswith="+1202555")
    assert joined.count() == OPT_INS
