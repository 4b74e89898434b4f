"""`schedule = "@reboot"` and `jitter` (issue 14): the policies through Engine.step on
a fake clock, the commands that read them, and each once in a real daemon."""

from __future__ import annotations

import json
import re
import signal
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from conftest import FakeClock, record, wait_until
from test_engine import make_engine

from cronplus import report
from cronplus.dispatch import Dispatcher
from cronplus.engine import Engine
from cronplus.errors import ExitCode
from cronplus.model import RunStatus, Trigger
from cronplus.paths import StatePaths

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


# -- jitter: validation -----------------------------------------------------------------------

PIPELINE = """
[jobs.root]
schedule = "@daily"
command = "true"

[jobs.child]
after = ["root"]
command = "true"
"""


def test_jitter_on_a_job_without_a_schedule_is_a_problem_naming_job_and_line(project, cli):
    project.write(PIPELINE + 'jitter = "30s"\n')
    done = cli("validate")
    assert done.exit_code == ExitCode.USAGE
    assert 'jobs.toml:8: job "child": jitter without a schedule' in done.stderr


def test_a_jitter_over_a_day_is_a_problem_naming_job_line_and_limit(project, cli):
    project.write(PIPELINE.replace('"@daily"', '"@daily"\njitter = "999999999d"'))
    done = cli("validate")
    assert done.exit_code == ExitCode.USAGE
    assert 'jobs.toml:3: job "root": jitter must be at most "24h" (got "999999999d")' in done.stderr
    project.write(PIPELINE.replace('"@daily"', '"@daily"\njitter = "24h"'))
    assert cli("validate").exit_code == ExitCode.OK


def test_defaults_jitter_spreads_only_the_jobs_with_a_schedule(project):
    project.write('[defaults]\njitter = "30s"\n' + PIPELINE)
    jobs = project.config().jobs
    assert (jobs["root"].jitter, jobs["child"].jitter) == (timedelta(seconds=30), None)


# -- jitter: the policies on a fake clock -----------------------------------------------------


JITTERED_JOB = """
[jobs.j]
schedule = "0 * * * * *"
timezone = "UTC"
command = "true"
jitter = "40s"
"""


def about(t, expected):
    """A waiting run's start as `first` reads it: on the monotonic clock, which a
    FakeClock runs as real time does, so a few ms sooner than drawn."""
    return expected - timedelta(seconds=2) < t <= expected


def jittered(project, clock, draw, schedule="0 * * * * *", **job):
    keys = "".join(f"{k} = {v!r}\n" for k, v in job.items())
    head = f'[jobs.j]\nschedule = "{schedule}"\ntimezone = "UTC"\ncommand = "true"\n'
    project.write(head + keys)
    engine, store, dispatcher = make_engine(project, clock)
    dispatcher.waiting.random = lambda: draw
    return engine, store, dispatcher


def test_a_jittered_run_is_queued_until_its_delay_then_keeps_its_fire_time(project):
    clock = FakeClock(T0)
    engine, store, dispatcher = jittered(project, clock, 0.25, jitter="40s")
    fire = T0 + timedelta(minutes=1)
    clock.set(fire)
    start_at = fire + timedelta(seconds=10)
    assert about(engine.step(fire), start_at)  # its delayed start comes before the next fire
    run = store.find_run("j", fire)
    assert (run.status, run.attempts) == (RunStatus.QUEUED, ())
    assert about(engine.step(start_at - timedelta(microseconds=1)), start_at)
    assert store.find_run("j", fire).status is RunStatus.QUEUED
    clock.set(start_at)
    engine.step(start_at)
    dispatcher.wait_all()
    run = store.find_run("j", fire)
    assert (run.scheduled_for, run.status) == (fire, RunStatus.SUCCEEDED)
    assert run.started_at >= start_at


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999999])
def test_the_delay_is_drawn_within_zero_to_jitter(project, draw):
    clock = FakeClock(T0)
    engine, _, dispatcher = jittered(project, clock, draw, jitter="40s")
    fire = T0 + timedelta(minutes=1)
    clock.set(fire)
    engine.step(fire)
    delay = dispatcher.waiting.first() - fire
    assert about(fire + delay, fire + timedelta(seconds=40) * draw)
    assert timedelta(0) <= delay < timedelta(seconds=40)
    dispatcher.shutdown()


def test_each_run_draws_a_fresh_delay(project):
    import random

    clock = FakeClock(T0)
    engine, store, dispatcher = jittered(project, clock, 0.0, jitter="50s")
    dispatcher.waiting.random = random.Random(14).random
    delays = []
    for minute in (1, 2, 3):
        fire = T0 + timedelta(minutes=minute)
        clock.set(fire)
        engine.step(fire)
        delays.append(dispatcher.waiting.first() - fire)
        clock.set(dispatcher.waiting.first())
        engine.step(clock.now())
        dispatcher.wait_all()
    assert len(set(delays)) == 3
    assert all(timedelta(0) <= d < timedelta(seconds=50) for d in delays)


def test_a_run_waiting_out_its_jitter_counts_for_overlap(project):
    clock = FakeClock(T0)
    engine, store, dispatcher = jittered(project, clock, 0.99, jitter="2m")
    first, second = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    clock.set(first)
    engine.step(first)
    clock.set(second)
    engine.step(second)  # the first still waits (until first + 118.8 s)
    waiting = store.find_run("j", first)
    skipped = store.find_run("j", second)
    assert waiting.status is RunStatus.QUEUED
    assert skipped.status is RunStatus.SKIPPED
    assert skipped.reason == f"previous run {waiting.id} of the job was still running"
    dispatcher.shutdown()
    stopped = store.get_run(waiting.id)
    assert (stopped.status, stopped.reason) == (
        RunStatus.INTERRUPTED,
        "interrupted: cronplus stopped while the run waited out its jitter",
    )


def test_start_grace_counts_from_the_delayed_start(project):
    clock = FakeClock(T0)
    hourly = "0 0 * * * *"
    engine, store, dispatcher = jittered(
        project, clock, 0.9, hourly, jitter="100s", start_grace="60s"
    )
    fire = T0 + timedelta(hours=1)
    clock.set(fire)
    engine.step(fire)
    start_at = fire + timedelta(seconds=90)  # 90 s after its fire time, beyond start_grace
    clock.set(start_at)
    engine.step(start_at)
    dispatcher.wait_all()
    assert store.find_run("j", fire).status is RunStatus.SUCCEEDED
    # Its delayed start itself passed over start_grace ago (a suspended host): missed.
    nxt = fire + timedelta(hours=1)
    clock.set(nxt)
    engine.step(nxt)
    late = nxt + timedelta(seconds=90 + 61)
    clock.set(late)
    engine.step(late)
    run = store.find_run("j", nxt)
    assert run.status is RunStatus.SKIPPED
    assert run.reason == "cronplus could not start it within 60s of its jittered start"
    dispatcher.shutdown()


def test_a_manual_trigger_is_not_jittered(project, cli):
    project.write("""
        [jobs.j]
        schedule = "@daily"
        command = "true"
        jitter = "1h"
    """)
    done = cli("trigger", "j", "--wait")
    assert done.exit_code == ExitCode.OK
    (run,) = project.store().history("j")
    assert run.status is RunStatus.SUCCEEDED


def test_a_reboot_job_with_jitter_waits_its_delay_too(project):
    project.write(REBOOT_JOBS.replace('command = "true"', 'command = "true"\njitter = "1m"', 1))
    clock = FakeClock(T0)
    engine, store, dispatcher = make_engine(project, clock)
    assert engine.next_due() is not None and engine.next_due() < T0 + timedelta(minutes=1)
    assert store.history("boot")[0].status is RunStatus.QUEUED
    dispatcher.shutdown()


def test_replacing_a_run_that_waits_out_its_jitter_ends_it_and_it_never_starts(project):
    clock = FakeClock(T0)
    engine, store, dispatcher = jittered(project, clock, 0.0, jitter="2m", overlap="replace")
    draws = iter([0.99, 0.9, 0.0])  # A until m1 + 118.8 s, B until m2 + 108 s, C at once
    dispatcher.waiting.random = lambda: next(draws)

    def at(t):
        clock.set(t)
        engine.step(t)

    m = [T0 + timedelta(minutes=k) for k in range(4)]
    at(m[1])
    at(m[2])  # B replaces A, which never started: A ends now, B is the job's run
    a, b = store.find_run("j", m[1]), store.find_run("j", m[2])
    replaced = f"interrupted: replaced by run {b.id} (overlap = replace)"
    assert (a.status, a.reason, a.attempts) == (RunStatus.INTERRUPTED, replaced, ())
    assert b.status is RunStatus.QUEUED
    assert not dispatcher.idle("j")
    at(m[1] + timedelta(seconds=118.8))  # A's delay would have ended: nothing starts
    dispatcher.wait_all()
    assert store.get_run(a.id).attempts == ()
    assert store.get_run(b.id).status is RunStatus.QUEUED
    assert not dispatcher.idle("j")  # B still holds the job: no third run beside it
    at(m[3])  # C replaces B the same way
    c = store.find_run("j", m[3])
    assert store.get_run(b.id).status is RunStatus.INTERRUPTED
    at(m[3])  # C's delay (0) is over
    at(m[2] + timedelta(seconds=108))  # B's would have ended
    dispatcher.wait_all()
    runs = {r.id: r for r in store.history("j")}
    assert runs[c.id].status is RunStatus.SUCCEEDED
    assert sum(len(r.attempts) for r in runs.values()) == 1
    assert dispatcher.idle("j")


def test_a_huge_jitter_never_crashes_the_engine(project):
    clock = FakeClock(T0)
    engine, store, dispatcher = jittered(project, clock, 0.99, jitter="1m")
    config = engine.config
    huge = replace(config.jobs["j"], jitter=timedelta(days=999_999_999))
    engine.config = dispatcher.config = replace(config, jobs={"j": huge})
    fire = T0 + timedelta(minutes=1)
    clock.set(fire)
    assert engine.step(fire) == fire + timedelta(minutes=1)  # the next fire time
    assert store.find_run("j", fire).status is RunStatus.QUEUED
    dispatcher.shutdown()


class SteppedClock(FakeClock):
    def step(self, t):
        """The wall clock alone jumps to `t`, as an NTP step does: monotonic time does
        not move."""
        self._now = t


@pytest.mark.parametrize("step", [timedelta(hours=-6), timedelta(hours=2)])
def test_a_wall_clock_step_leaves_the_rest_of_a_jitter_delay_unchanged(project, step):
    clock = SteppedClock(T0)
    engine, store, dispatcher = jittered(project, clock, 0.5, jitter="50s")
    fire = T0 + timedelta(minutes=1)
    clock.set(fire)
    engine.step(fire)  # waits 25 s
    clock.advance(10)
    before = clock.now()
    clock.step(before + step)  # back: a correction (over 3 h); forward: a resume
    engine.jumped(before, clock.now())
    assert about(dispatcher.waiting.first(), clock.now() + timedelta(seconds=15))
    if step < timedelta(0):  # the next fire time is later: the engine wakes for the run
        assert about(engine.next_due(), clock.now() + timedelta(seconds=15))
    engine.step(clock.now())
    assert store.find_run("j", fire).status is RunStatus.QUEUED
    clock.advance(15)
    engine.step(clock.now())
    dispatcher.wait_all()
    run = store.find_run("j", fire)
    assert (run.status, run.started_at) == (RunStatus.SUCCEEDED, clock.now())
    dispatcher.shutdown()


def test_a_run_resumed_before_its_first_attempt_draws_a_fresh_delay(project):
    project.write(JITTERED_JOB)
    clock = FakeClock(T0)

    def start():
        store = project.store()
        config, paths = project.config(), StatePaths(project.state)
        dispatcher = Dispatcher(config, store, paths, clock=clock, resume_after_stop=True)
        dispatcher.waiting.random = lambda: 0.5
        engine = Engine(config, store, dispatcher, clock=clock)
        engine.start(clock.now())
        return engine, store, dispatcher

    engine, store, dispatcher = start()
    fire = T0 + timedelta(minutes=1)
    clock.set(fire)
    engine.step(fire)
    dispatcher.shutdown()  # stopped while it waited: resumed at the next start
    clock.advance(5)
    engine, store, dispatcher = start()
    run = store.find_run("j", fire)
    assert (run.status, run.attempts) == (RunStatus.QUEUED, ())
    assert about(dispatcher.waiting.first(), clock.now() + timedelta(seconds=20))
    clock.advance(20)
    engine.step(clock.now())
    dispatcher.wait_all()
    run = store.find_run("j", fire)
    assert (run.status, run.started_at) == (RunStatus.SUCCEEDED, clock.now())


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


@pytest.mark.slow
def test_a_real_daemon_starts_jittered_runs_within_their_delay(project, daemon):
    project.write("""
        [jobs.tick]
        schedule = "* * * * * *"
        timezone = "UTC"
        command = "true"
        jitter = "2s"
        overlap = "skip"
    """)
    store = project.store()
    d = daemon()
    d.wait_started()
    wait_until(
        lambda: sum(r.status is RunStatus.SUCCEEDED for r in store.history("tick")) >= 3,
        timeout=30,
    )
    assert d.terminate() == 0
    drawn = {
        int(m[1]): float(m[2])
        for m in re.finditer(r"run=(\d+) event=jitter detail='starts in ([\d.]+)s'", d.stderr)
    }
    done = [r for r in store.history("tick") if r.status is RunStatus.SUCCEEDED]
    assert len(done) >= 3
    for r in done:
        assert 0 <= drawn[r.id] < 2
        waited = (r.started_at - r.scheduled_for).total_seconds()
        # Started once its delay was over, from the fire time it keeps (the delay is
        # drawn a few ms after the fire time; the rest is starting the process).
        assert drawn[r.id] <= waited < drawn[r.id] + 1.0, (r.id, drawn[r.id], waited)
        assert waited >= 0
