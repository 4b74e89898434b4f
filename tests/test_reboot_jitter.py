"""`schedule = "@reboot"` (issue 14): the policies through Engine.step on
a fake clock, the commands that read them, and each once in a real daemon."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta

import pytest
from conftest import FakeClock, record, wait_until
from test_engine import make_engine

from cronplus import report
from cronplus.errors import ExitCode
from cronplus.model import RunStatus, Trigger

T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
REBOOT_JOBS = """
    [jobs.boot]
    schedule = "@reboot"
    timezone = "UTC"
    command = "true"

    [jobs.after_boot]
    after = ["boot"]
    command = "true"
"""


# -- @reboot ----------------------------------------------------------------------------------


def test_reboot_runs_once_at_start_with_the_start_instant_as_its_logical_time(project):
    project.write(REBOOT_JOBS)
    clock = FakeClock(T0)
    engine, store, dispatcher = make_engine(project, clock)
    assert engine.next_due() is None  # no fire times
    for seconds in (1, 3600, 86_400):
        engine.step(T0 + timedelta(seconds=seconds))
    engine.apply(project.config(), T0 + timedelta(days=2))  # a reload runs nothing
    dispatcher.wait_all()
    (run,) = store.history("boot")
    assert (run.scheduled_for, run.trigger, run.status) == (
        T0,
        Trigger.SCHEDULE,
        RunStatus.SUCCEEDED,
    )
    wait_until(lambda: store.history("after_boot"))
    dispatcher.wait_all()
    (after,) = store.history("after_boot")
    assert (after.scheduled_for, after.status) == (T0, RunStatus.SUCCEEDED)


def test_reboot_is_never_caught_up_missed_or_overdue(project):
    project.write(REBOOT_JOBS)
    store = project.store()
    record(store, "boot", T0 - timedelta(days=30), "succeeded")
    store.mark_daemon_alive(T0 - timedelta(days=30))
    clock = FakeClock(T0)
    engine, store, dispatcher = make_engine(project, clock)
    dispatcher.wait_all()
    runs = store.history("boot")
    assert [(r.scheduled_for, r.status) for r in runs] == [
        (T0, RunStatus.SUCCEEDED),
        (T0 - timedelta(days=30), RunStatus.SUCCEEDED),
    ]
    later = T0 + timedelta(days=3)
    (status,) = report.job_statuses(engine.config, store, ["boot"], later)
    assert (status.next_run, status.overdue) == (None, None)


def test_a_paused_reboot_job_is_recorded_skipped_at_start(project, cli):
    project.write(REBOOT_JOBS)
    assert cli("pause", "boot").exit_code == ExitCode.OK
    _, store, dispatcher = make_engine(project, FakeClock(T0))
    dispatcher.wait_all()
    (run,) = store.history("boot")
    assert (run.status, run.reason) == (RunStatus.SKIPPED, "paused")


def test_reboot_commands_list_no_times_and_refuse_backfill(project, cli):
    project.write(REBOOT_JOBS)
    record(project.store(), "boot", T0, "succeeded")
    shown = cli("next", "boot")
    assert shown.exit_code == ExitCode.OK
    assert "@reboot: at each daemon start" in shown.stdout
    assert json.loads(cli("next", "boot", "--json").stdout) == [{"job": "boot", "fire_times": []}]
    rows = json.loads(cli("status", "--json").stdout)
    assert next(r for r in rows if r["job"] == "boot")["next_run"] is None
    (day,) = json.loads(cli("status", "boot", "--on", "2026-11-23", "--json").stdout)
    assert (day["fire_times"], day["no_run"]) == ([], [])  # no fire times made up
    assert [r["scheduled_for"] for r in day["runs"]] == [T0.isoformat()]
    done = cli("backfill", "boot", "--from", "2026-11-01", "--to", "2026-11-02", "--yes")
    assert done.exit_code == ExitCode.USAGE
    assert 'job "boot" runs at each daemon start (@reboot)' in done.stderr


# -- in a real daemon -------------------------------------------------------------------------


@pytest.mark.slow
def test_a_real_daemon_runs_reboot_once_per_start_and_not_on_reload(project, daemon):
    project.write(REBOOT_JOBS)
    store = project.store()

    def ended(job):
        return [r for r in store.history(job) if r.status.is_final]

    d = daemon()
    d.wait_started()
    wait_until(lambda: len(ended("after_boot")) == 1, timeout=20)
    d.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "event=reloaded" in d.stderr, timeout=20)
    assert d.terminate() == 0
    assert len(store.history("boot")) == 1
    d = daemon()
    d.wait_started()
    wait_until(lambda: len(ended("after_boot")) == 2, timeout=20)
    assert d.terminate() == 0
    runs = store.history("boot")
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 2
    assert len({r.scheduled_for for r in runs}) == 2
