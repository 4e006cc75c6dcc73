"""Which of the changed-records files left on the file server a run reads: an initial load takes the whole
history, any other run only the files from the eve of the first activation on, and not more than a week
before the newest file it already processed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from engine_testing import add, publish, sync

from lumisync.datasync.engine.inbound import FILE_LOOKBACK_DAYS
from lumisync.datasync.models import Integration
from lumisync.subscribers.models import Profile

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1).total_seconds()


@pytest.fixture
def history(make_integration, simulator):
    """A file from a month before the first activation, and the one from the night of it."""
    integration = make_integration("liberal")
    old_cons = add(simulator, "old@example.org", "2025550170")
    old_file = publish(simulator)
    simulator.clock.advance(30 * DAY)
    new_cons = add(simulator, "new@example.org", "2025550171")
    new_file = publish(simulator)
    Integration.objects.filter(pk=integration.pk).update(first_activated_at=simulator.clock.now())
    return Integration.objects.get(pk=integration.pk), (old_file, old_cons), (new_file, new_cons)


def test_a_run_that_is_not_an_initial_load_leaves_the_files_before_activation_alone(history):
    integration, (old_file, old_cons), (new_file, new_cons) = history

    run = sync(integration)

    assert run.files == [new_file]
    assert Profile.objects.filter(constituent_id=new_cons).exists()
    assert not Profile.objects.filter(constituent_id=old_cons).exists()


def test_an_initial_load_reads_every_file_oldest_first(history):
    integration, (old_file, old_cons), (new_file, new_cons) = history

    run = sync(integration, initial=True)

    assert run.files == [old_file, new_file]
    assert set(Profile.objects.values_list("constituent_id", flat=True)) == {old_cons, new_cons}


def test_a_late_file_is_read_within_the_lookback_and_history_beyond_it_is_not_downloaded(
    make_integration, simulator
):
    integration = make_integration("liberal")
    add(simulator, "tonight@example.org", "2025550172")
    tonight = simulator.clock.now()
    publish(simulator)
    assert sync(integration).status == "succeeded"
    simulator.clock.set(tonight - timedelta(days=FILE_LOOKBACK_DAYS + 3))
    add(simulator, "long-ago@example.org", "2025550173")
    long_ago = publish(simulator)
    simulator.clock.set(tonight - timedelta(days=3))
    late_cons = add(simulator, "late@example.org", "2025550174")
    late = publish(simulator)

    run = sync(integration)

    assert run.files == [late] and long_ago not in run.files
    assert Profile.objects.filter(constituent_id=late_cons).exists()
