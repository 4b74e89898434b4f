"""The real daemon as a subprocess, in real time: per-second schedules, one daemon
per state, SIGTERM, and refusing an invalid jobs file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import wait_until

from cronplus._wrapper import Trace, trace_of
from cronplus.model import Claim, RunStatus, Trigger

pytestmark = pytest.mark.slow


def finished_runs(project, job):
    return [r for r in project.store().history(job) if r.status.is_final]


def test_per_second_job_runs_every_second_never_early(project, daemon):
    project.write("""
        [jobs.tick]
        schedule = "* * * * * *"
        timezone = "UTC"
        command = 'echo "$CRONPLUS_SCHEDULED_FOR" >> ticks.txt'
    """)
    d = daemon()
    d.wait_started()
    wait_until(lambda: len(finished_runs(project, "tick")) >= 4, timeout=20)
    assert d.terminate() == 0
    runs = sorted(project.store().history("tick"), key=lambda r: r.scheduled_for)
    assert all(r.trigger is Trigger.SCHEDULE for r in runs)
    assert all(r.scheduled_for.microsecond == 0 for r in runs)
    done = [r for r in runs if r.status is RunStatus.SUCCEEDED]
    assert len(done) >= 4
    for r in done:
        assert r.attempts[0].started_at >= r.scheduled_for  # never before the fire time
    seconds = [int(r.scheduled_for.timestamp()) for r in runs]
    assert seconds == list(range(seconds[0], seconds[0] + len(seconds)))  # none missed
    lines = (project.root / "ticks.txt").read_text().split()
    assert len(lines) == len(set(lines)) == len(done)


def test_pipeline_runs_in_order_for_the_same_logical_time(project, daemon):
    project.write("""
        [jobs.extract]
        schedule = "*/2 * * * * *"
        timezone = "UTC"
        command = 'echo "extract $CRONPLUS_SCHEDULED_FOR" >> order.txt'
        [jobs.load]
        after = ["extract"]
        command = 'echo "load $CRONPLUS_SCHEDULED_FOR" >> order.txt'
    """)
    d = daemon()
    d.wait_started()
    wait_until(lambda: len(finished_runs(project, "load")) >= 2, timeout=20)
    d.terminate()
    lines = (project.root / "order.txt").read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("load"):
            assert f"extract {line.split()[1]}" in lines[:i]
    for r in finished_runs(project, "load"):
        extract = project.store().find_run("extract", r.scheduled_for)
        assert extract.status is RunStatus.SUCCEEDED
        assert r.attempts[0].started_at >= extract.finished_at


def test_second_daemon_on_the_same_state_is_refused(project, daemon):
    project.write("""
        [jobs.idle]
        schedule = "0 0 1 1 *"
        command = "true"
    """)
    first = daemon()
    first.wait_started()
    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "cronplus",
            "-c",
            str(project.jobs_file),
            "--state",
            str(project.state),
            "run",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 1
    expected = f"a cronplus daemon is already running on {project.state} (pid {first.proc.pid})"
    assert expected in second.stderr
    assert "Traceback" not in second.stderr
    assert first.proc.poll() is None


def test_sigterm_interrupts_running_jobs_and_exits_zero(project, daemon):
    project.write("""
        [jobs.long]
        schedule = "* * * * * *"
        timezone = "UTC"
        command = 'sleep 300 & echo $! > child.pid; wait'
        kill_grace = "1s"
    """)
    d = daemon()
    d.wait_started()
    wait_until(
        lambda: (
            (project.root / "child.pid").exists()
            and (project.root / "child.pid").read_text().strip()
        ),
        timeout=15,
    )
    child = int((project.root / "child.pid").read_text())
    assert d.terminate(timeout=20) == 0
    runs = project.store().history("long")
    started = [r for r in runs if r.attempts]
    assert started and all(r.status is RunStatus.INTERRUPTED for r in started)
    assert "cronplus stopped" in started[0].reason
    assert project.store().unfinished_runs() == []

    def gone() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        # A zombie awaiting its reaper is gone too.
        with open(f"/proc/{child}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"

    wait_until(gone, timeout=10)


def test_daemon_refuses_an_invalid_jobs_file_with_every_problem(project):
    project.write("""
        [jobs.load]
        schedule = "0 61 * * *"
        comand = "true"
    """)
    result = subprocess.run(
        [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", str(project.state), "run"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=project.root,
    )
    assert result.returncode == 2
    assert 'jobs.toml:2: job "load": schedule "0 61 * * *"' in result.stderr
    assert 'jobs.toml:3: job "load": unknown key "comand" (did you mean "command"?)' in (
        result.stderr
    )
    assert "nothing was started" in result.stderr
    assert not project.state.exists()


def test_restart_records_the_outcome_of_a_job_that_outlived_its_daemon(project, daemon):
    project.write("""
        [jobs.quick]
        schedule = "* * * * * *"
        timezone = "UTC"
        command = 'sleep 1; exit 3'
    """)
    d = daemon()
    d.wait_started()
    wait_until(lambda: any(r.attempts for r in project.store().history("quick")), timeout=15)
    d.proc.kill()  # SIGKILL: the daemon records nothing more
    d.proc.wait()
    orphans = project.store().unfinished_runs()
    assert orphans and all(r.status is RunStatus.RUNNING for r in orphans)

    # The jobs live on in their own sessions; their wrappers write the exit status.
    # (Under load the daemon may die between recording an attempt and starting it:
    # that attempt never started, and is dropped and run again.)
    def trace(r):
        return trace_of(Path(f"{r.last_attempt.log}.status"))

    with_attempts = [r for r in orphans if r.attempts]
    wait_until(lambda: all(trace(r) is not Trace.STARTED for r in with_attempts), timeout=15)
    d2 = daemon()
    d2.wait_started()
    wait_until(lambda: all(project.store().get_run(r.id).status.is_final for r in orphans))
    d2.terminate()
    assert with_attempts
    for r in with_attempts:
        got = project.store().get_run(r.id)
        assert got.status is RunStatus.FAILED and got.reason == "exit code 3"
        assert got.last_attempt.exit_code == 3 and got.last_attempt.finished_at
        assert len(got.attempts) == 1


def once_in(seconds: int) -> str:
    """A six-field schedule that fires once a day, `seconds` from now (UTC)."""
    from datetime import UTC, datetime, timedelta

    t = datetime.now(UTC) + timedelta(seconds=seconds)
    return f"{t.second} {t.minute} {t.hour} * * *"


def test_a_restarted_daemon_adopts_a_job_still_running_and_records_its_end(project, daemon):
    """The job outlives the killed daemon; the next daemon watches it to its end, then
    retries it (its retries were not used up) and runs its dependent."""
    project.write(f"""
        [jobs.slow]
        schedule = "{once_in(2)}"
        timezone = "UTC"
        command = 'sleep 2; echo $CRONPLUS_ATTEMPT >> a.txt; [ $CRONPLUS_ATTEMPT = 2 ] || exit 3'
        retries = 1
        retry_delay = "0s"
        [jobs.after]
        after = ["slow"]
        command = 'echo after >> a.txt'
    """)
    d = daemon()
    d.wait_started()
    run = wait_until(lambda: next(iter(project.store().unfinished_runs()), None))
    attempt = wait_until(lambda: project.store().get_run(run.id).last_attempt)
    # Started, not only recorded: its wrapper made the status file.
    wait_until(lambda: Path(f"{attempt.log}.status").exists())
    d.proc.kill()
    d.proc.wait()
    d2 = daemon()
    d2.wait_started()
    wait_until(lambda: project.store().get_run(run.id).status.is_final, timeout=20)
    wait_until(lambda: (project.root / "a.txt").read_text().endswith("after\n"))
    d2.terminate()
    got = project.store().get_run(run.id)
    assert got.status is RunStatus.SUCCEEDED
    assert [(a.number, a.exit_code) for a in got.attempts] == [(1, 3), (2, 0)]
    assert (project.root / "a.txt").read_text() == "1\n2\nafter\n"
    assert "event=adopted" in d2.stderr


def test_a_run_cut_short_by_a_stop_is_resumed_at_the_next_start(project, daemon):
    """retries = 0, yet the run is run again: the attempt the stop cut short does not
    count. The second start finds it resumed once, not again."""
    project.write(f"""
        [jobs.long]
        schedule = "{once_in(2)}"
        timezone = "UTC"
        command = 'echo "$CRONPLUS_ATTEMPT" >> attempts.txt; sleep 2'
    """)
    d = daemon()
    d.wait_started()
    wait_until(lambda: (project.root / "attempts.txt").exists())
    assert d.terminate() == 0
    run = project.store().history("long")[0]
    assert run.status is RunStatus.INTERRUPTED
    d2 = daemon()
    d2.wait_started()
    wait_until(lambda: project.store().get_run(run.id).status is RunStatus.SUCCEEDED, timeout=20)
    d2.terminate()
    assert (project.root / "attempts.txt").read_text() == "1\n2\n"
    assert [a.trigger for a in project.store().get_run(run.id).attempts] == ["schedule"] * 2
    d3 = daemon()
    d3.wait_started()
    d3.terminate()
    assert (project.root / "attempts.txt").read_text() == "1\n2\n"


def test_pause_skips_fire_times_within_2_seconds_and_resume_does_not_catch_up(project, cli, daemon):
    import json
    from datetime import UTC, datetime, timedelta

    project.write(
        """
        [jobs.tick]
        schedule = "* * * * * *"
        command = "true"
        """
    )
    d = daemon()
    d.wait_started()
    wait_until(lambda: any(r.status.is_final for r in project.store().history("tick")))
    paused = cli("pause", "tick")
    assert paused.exit_code == 0 and paused.stdout == "tick: paused (until: cronplus resume tick)\n"
    at = datetime.now(UTC)

    def skipped_since(t):
        runs = project.store().history("tick")
        return [r for r in runs if r.status is RunStatus.SKIPPED and r.scheduled_for > t]

    # Effective within 2 s: two fire times skipped after that (a bounded wait, no sleep).
    wait_until(lambda: len(skipped_since(at + timedelta(seconds=2))) >= 2, timeout=10)
    row = json.loads(cli("status", "tick", "--json").stdout)[0]
    assert row["paused_since"] is not None
    assert "(paused)" in cli("status").stdout
    assert cli("resume", "tick").stdout == "tick: resumed\n"
    resumed = datetime.now(UTC)

    def ran_since(t):
        return [r for r in project.store().history("tick") if r.scheduled_for > t]

    wait_until(lambda: any(r.status.is_final for r in ran_since(resumed)), timeout=10)
    d.terminate()
    runs = sorted(project.store().history("tick"), key=lambda r: r.scheduled_for)
    skipped = [r for r in runs if r.status is RunStatus.SKIPPED]
    # Every fire time from 2 s after the pause until the resume was skipped as paused...
    assert len(skipped) >= 2 and {r.reason for r in skipped} == {"paused"}
    during = [
        r for r in runs if (r.scheduled_for - at).total_seconds() >= 2 and r.scheduled_for < resumed
    ]
    assert during and all(r.status is RunStatus.SKIPPED for r in during)
    # ...and after the resume the schedule runs again, with nothing caught up.
    after = [r for r in runs if r.scheduled_for > resumed]
    assert after and all(r.trigger is Trigger.SCHEDULE for r in runs)
    assert all(r.status is not RunStatus.SKIPPED for r in after)
    seconds = [int(r.scheduled_for.timestamp()) for r in runs]
    assert len(seconds) == len(set(seconds))


def test_pause_and_resume_name_bad_jobs_and_say_what_changed(project, cli):
    project.write('[jobs.a]\ncommand = "true"\n')
    assert cli("pause", "b").exit_code == 2
    assert cli("resume", "a").stdout == "a: was not paused\n"
    cli("pause", "a")
    assert cli("pause", "a").stdout == "a: was paused already\n"


def test_a_paused_dependent_is_skipped_when_its_upstream_succeeds(project, cli):
    project.write('[jobs.a]\ncommand = "true"\n[jobs.b]\nafter = ["a"]\ncommand = "true"\n')
    cli("pause", "b")
    result = cli("trigger", "a", "--wait")
    assert result.exit_code == 0
    (b,) = project.store().history("b")
    assert (b.status, b.reason, b.attempts) == (RunStatus.SKIPPED, "paused", ())


def test_a_run_going_past_its_expected_duration_is_logged_late_once_without_alerts(project, daemon):
    project.write("""
        [defaults]
        timezone = "UTC"
        [jobs.slow]
        schedule = "* * * * * *"
        command = "sleep 1.2"
        expected_duration = 0.3
        [jobs.quick]
        schedule = "* * * * * *"
        command = "true"
        expected_duration = 5
    """)
    d = daemon()
    d.wait_started()

    def ran():
        return [r for r in project.store().history("slow") if r.status is RunStatus.SUCCEEDED]

    wait_until(lambda: len(ran()) >= 2, timeout=20)
    assert d.terminate() == 0
    late = [line for line in d.stderr.splitlines() if "event=late" in line]
    for r in ran():
        mine = [line for line in late if f"job=slow run={r.id} event=late" in line]
        assert len(mine) == 1, late
        assert "still running after its expected_duration of 0.3s" in mine[0]
    assert not [line for line in late if "job=quick" in line]


def test_a_daemon_whose_engine_fails_at_start_closes_all_it_opened(project, daemon, monkeypatch):
    """The lock, the pidfile, the state, the watcher and heartbeat threads and the
    signal handlers are given back, so the next daemon starts."""
    import signal
    import threading

    from cronplus.daemon import run_daemon
    from cronplus.engine import Engine
    from cronplus.paths import StatePaths, read_daemon_pid

    project.write("""
        [alerts]
        heartbeat = "http://127.0.0.1:9/ping"
        [jobs.idle]
        schedule = "0 0 1 1 *"
        command = "true"
    """)
    paths = StatePaths(project.state)
    stores = []

    def opened(p):
        from cronplus.store import open_store

        stores.append(open_store(p))
        return stores[-1]

    def broken(self, now):
        assert read_daemon_pid(paths) == os.getpid() and paths.pidfile.exists()
        names = {t.name for t in threading.enumerate()}
        assert {"watch", "heartbeat"} <= names, names
        raise RuntimeError("the engine broke")

    monkeypatch.setattr("cronplus.daemon.open_store", opened)
    monkeypatch.setattr(Engine, "start", broken)
    threads = set(threading.enumerate())
    handlers = [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)]
    # `failed` keeps the traceback, and with it every local of the daemon, alive: a lock
    # released only when garbage-collected would still be held below.
    with pytest.raises(RuntimeError, match="the engine broke") as failed:
        run_daemon(project.config(), paths)
    assert not paths.pidfile.exists()
    assert read_daemon_pid(paths) is None  # the lock is free
    assert [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)] == (
        handlers
    )
    wait_until(lambda: set(threading.enumerate()) <= threads, timeout=5)
    with pytest.raises(Exception, match="closed database"):
        stores[0].last_daemon_pid()
    second = daemon()
    second.wait_started()
    assert second.terminate() == 0
    assert failed.value


def test_a_daemon_whose_engine_fails_with_a_run_going_stops_it_and_records_its_end(
    project, monkeypatch
):
    """The runs an engine started before it raised are stopped and recorded while the
    state is still open; the daemon returns instead of retrying their writes forever."""
    import signal
    from datetime import UTC, datetime

    from cronplus.daemon import run_daemon
    from cronplus.engine import Engine
    from cronplus.paths import StatePaths

    project.write("""
        [jobs.slow]
        command = "sleep 30"
    """)

    def broken(self, now):
        run = self.store.claim_run(
            "slow", now, Trigger.MANUAL, Claim(owner=os.getpid(), now=datetime.now(UTC))
        )
        self.dispatcher.submit(run)
        wait_until(lambda: self.store.get_run(run.id).status is RunStatus.RUNNING)
        raise RuntimeError("the engine broke")

    monkeypatch.setattr(Engine, "start", broken)

    def hung(_signum, _frame):
        raise TimeoutError("the daemon hung after its engine raised")

    before = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        with pytest.raises(RuntimeError, match="the engine broke"):
            run_daemon(project.config(), StatePaths(project.state))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)
    (run,) = project.store().history("slow")
    assert run.status is RunStatus.INTERRUPTED, run


def test_waiting_for_every_run_never_trips_over_a_run_being_started(project, monkeypatch):
    """The stop's wait_all() racing a submit (a dependent released by a run's thread):
    it must wait for the new run, not find its thread not yet started."""
    import threading
    from datetime import UTC, datetime

    from cronplus.dispatch import Dispatcher
    from cronplus.paths import StatePaths

    project.write('[jobs.a]\ncommand = "true"\n')
    store = project.store()
    dispatcher = Dispatcher(project.config(), store, StatePaths(project.state))
    now = datetime.now(UTC)
    run = store.claim_run("a", now, Trigger.MANUAL, Claim(owner=os.getpid(), now=now))
    starting = threading.Event()
    real_start = threading.Thread.start

    def slow_start(thread):
        if thread.name.startswith("run-"):
            starting.set()
            threading.Event().wait(0.3)  # the window a loaded machine leaves open
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", slow_start)
    submitter = threading.Thread(target=dispatcher.submit, args=(run,))
    submitter.start()
    starting.wait(5)
    dispatcher.wait_all()
    submitter.join()
    assert store.get_run(run.id).status is RunStatus.SUCCEEDED
