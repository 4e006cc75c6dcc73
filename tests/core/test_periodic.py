from lumisync.core.periodic import PeriodicRunner

CALLS: list[str] = []


def record_ok():
    CALLS.append("ok")


def record_and_fail():
    CALLS.append("boom")
    raise RuntimeError("boom")


def test_tasks_run_when_due_and_a_failure_does_not_stop_the_others(db, caplog):
    CALLS.clear()
    now = [0.0]
    runner = PeriodicRunner(
        {f"{__name__}.record_and_fail": 10, f"{__name__}.record_ok": 30}, clock=lambda: now[0]
    )
    assert len(runner.run_due()) == 2
    now[0] = 15
    assert runner.run_due() == [f"{__name__}.record_and_fail"]
    now[0] = 31
    assert len(runner.run_due()) == 2
    assert CALLS == ["boom", "ok", "boom", "boom", "ok"]
    assert "periodic task" in caplog.text
