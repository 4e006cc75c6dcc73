"""fewer_collections: the collector's thresholds are raised while a run lasts and restored after it."""

from __future__ import annotations

import gc
import threading

import pytest

from lumisync.core.collection import YOUNG_THRESHOLD, fewer_collections


@pytest.fixture(autouse=True)
def _default_thresholds():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_the_thresholds_are_raised_while_it_lasts_and_restored_after():
    with fewer_collections():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)

    assert gc.get_threshold() == (700, 10, 10)


def test_an_error_inside_still_restores_them():
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("the run failed")

    assert gc.get_threshold() == (700, 10, 10)


def test_two_runs_at_once_keep_them_raised_until_the_last_ends():
    first_inside, second_may_end = threading.Event(), threading.Event()
    seen = []

    def second_run():
        with fewer_collections():
            first_inside.set()
            second_may_end.wait(5)
        seen.append(gc.get_threshold())

    thread = threading.Thread(target=second_run)
    with fewer_collections():
        thread.start()
        first_inside.wait(5)
    seen.append(gc.get_threshold())
    second_may_end.set()
    thread.join(5)

    assert seen == [(YOUNG_THRESHOLD, 10, 10), (700, 10, 10)]


def test_a_process_already_collecting_less_often_is_left_so():
    gc.set_threshold(50_000, 10, 10)

    with fewer_collections():
        assert gc.get_threshold() == (50_000, 10, 10)

    assert gc.get_threshold() == (50_000, 10, 10)
