"""`cronplus mark`: a run's outcome recorded by hand, and its dependents released."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from conftest import record, wait_until

from cronplus.errors import ExitCode
from cronplus.model import RunStatus, Trigger

BERLIN = ZoneInfo("Europe/Berlin")
CHAIN = """
    [jobs.extract]
    schedule = "0 3 * * *"
    timezone = "Europe/Berlin"
    command = "exit 1"

    [jobs.transform]
    after = ["extract"]
    command = 'echo "$CRONPLUS_SCHEDULED_FOR" >> transformed.txt'

    [jobs.load]
    after = ["transform"]
    command = "true"
"""
AT = datetime(2026, 12, 4, 3, 0, tzinfo=BERLIN)


def test_mark_records_a_new_manual_run_with_no_attempts_and_its_reason(project, cli):
    project.write(CHAIN)
    result = cli("mark", "extract", "succeeded", "--at", "2026-12-04T03:00", "--reason", "by hand")
    assert result.exit_code == ExitCode.OK, result.output
    (run,) = json.loads(cli("history", "extract", "--json").stdout)
    # --at had no offset: read in the job's zone.
    assert run["scheduled_for"] == "2026-12-04T03:00:00+01:00"
    assert (run["status"], run["trigger"], run["attempts"], run["reason"]) == (
        "succeeded",
        "manual",
        0,
        "by hand",
    )
    # Without --release nothing runs after it.
    assert cli("history", "transform", "--json").stdout.strip() == "[]"


def test_mark_over_a_failed_run_keeps_its_id_trigger_and_attempts(project, cli):
    project.write(CHAIN)
    failed = record(project.store(), "extract", AT, "failed", exits=(1, 1))
    result = cli("mark", "extract", "skipped", "--at", "2026-12-04T02:00:00+00:00")
    assert result.exit_code == ExitCode.OK, result.output
    run = project.store().get_run(failed.id)
    assert (run.id, run.trigger, len(run.attempts)) == (failed.id, Trigger.SCHEDULE, 2)
    assert (run.status, run.reason) == (RunStatus.SKIPPED, "marked by hand")


def test_mark_release_runs_the_blocked_dependents_as_the_same_runs(project, cli):
    project.write(CHAIN)
    day = ("--from", "2026-12-04", "--to", "2026-12-04")
    assert cli("backfill", "extract", *day).exit_code == ExitCode.NOT_SUCCEEDED
    store = project.store()
    blocked = {r.job: r.id for r in store.runs_between("transform", AT, AT.replace(hour=4))}
    assert store.find_run("transform", AT).status is RunStatus.UPSTREAM_FAILED
    result = cli(
        "mark", "extract", "succeeded", "--at", "2026-12-04T03:00", "--release", "--reason", "ok"
    )
    assert result.exit_code == ExitCode.OK, result.output
    assert "transform  run" in result.stdout and "load  run" in result.stdout
    transform = store.find_run("transform", AT)
    assert transform.id == blocked["transform"]
    assert transform.status is RunStatus.SUCCEEDED
    assert store.find_run("load", AT).status is RunStatus.SUCCEEDED
    assert (project.root / "transformed.txt").read_text() == "2026-12-04T03:00:00+01:00\n"


def test_mark_refuses_a_succeeded_run_and_a_run_still_going(project, cli):
    project.write(CHAIN)
    store = project.store()
    record(store, "extract", AT, "succeeded")
    done = cli("mark", "extract", "skipped", "--at", "2026-12-04T03:00")
    assert done.exit_code == ExitCode.USAGE
    assert "succeeded already" in done.stderr
    # A run a live backfill is executing is not marked from under it.
    project.write(CHAIN.replace("exit 1", "sleep 3"))
    backfill = subprocess.Popen(
        [sys.executable, "-m", "cronplus", "--state", str(project.state)]
        + ["backfill", "extract", "--from", "2026-12-03", "--to", "2026-12-03", "--only"],
        cwd=project.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        day_before = AT - timedelta(days=1)
        wait_until(lambda: (r := store.find_run("extract", day_before)) and r.attempts, 15)
        going = cli("mark", "extract", "succeeded", "--at", day_before.isoformat())
        assert going.exit_code == ExitCode.NOT_SUCCEEDED
        assert "is running: wait for it to end" in going.stderr
    finally:
        backfill.kill()
        backfill.wait()
    bad = cli("mark", "extract", "failed", "--at", "2026-12-04T03:00")
    assert bad.exit_code == ExitCode.USAGE


def test_mark_settles_a_run_whose_process_is_gone_then_marks_it(project, cli):
    project.write(CHAIN)
    # A process that claims the run and exits without running it: nobody will end it.
    claim = (
        "import sys; from datetime import datetime; from pathlib import Path;"
        "from cronplus.model import Claim, Trigger; from cronplus.paths import StatePaths;"
        "from cronplus.store import open_store;"
        "s = open_store(StatePaths(Path(sys.argv[1])));"
        "t = datetime.fromisoformat(sys.argv[2]);"
        "s.claim_run('extract', t, Trigger.MANUAL, Claim(owner=__import__('os').getpid(), now=t))"
    )
    subprocess.run([sys.executable, "-c", claim, str(project.state), AT.isoformat()], check=True)
    (orphan,) = project.store().history("extract")
    assert orphan.status is RunStatus.QUEUED
    result = cli("mark", "extract", "succeeded", "--at", "2026-12-04T03:00")
    assert result.exit_code == ExitCode.OK, result.output
    (run,) = project.store().history("extract")
    assert (run.id, run.status, run.reason) == (orphan.id, RunStatus.SUCCEEDED, "marked by hand")


def test_mark_skipped_with_release_is_a_usage_error(project, cli):
    project.write(CHAIN)
    result = cli("mark", "extract", "skipped", "--at", "2026-12-04T03:00", "--release")
    assert result.exit_code == ExitCode.USAGE
    assert "--release goes with succeeded" in result.stderr
    assert not (project.state / "state.db").exists()


def test_an_interrupted_mark_release_stops_the_runs_it_started_and_records_them(project):
    """Ctrl-C while the released jobs run: they are stopped and recorded, as under
    `trigger`; none is left `running` with its process going on unwatched."""
    import signal

    project.write(
        CHAIN.replace('echo "$CRONPLUS_SCHEDULED_FOR" >> transformed.txt', "touch going; sleep 30")
    )
    args = ["mark", "extract", "succeeded", "--at", "2026-12-04T03:00", "--release"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cronplus", "-c", str(project.jobs_file)]
        + ["--state", str(project.state), *args],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: (project.root / "going").exists(), timeout=20)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        proc.kill()
    transform = project.store().find_run("transform", AT)
    assert transform.status is RunStatus.INTERRUPTED, transform
    assert project.store().find_run("load", AT) is None


def test_a_stop_signal_that_another_thread_catches_still_stops_a_mark_release(project):
    """The kernel may hand a process's SIGINT to any of its threads (and one caught
    just before the main thread blocks waits for it to wake): a main thread waiting
    for the runs without a timeout ran the handler only when the job ended, 30 s on.
    Forced here: the signal is sent to a thread other than the main one."""
    import signal
    import threading

    from cronplus.manual import mark_run
    from cronplus.paths import StatePaths

    project.write(
        CHAIN.replace('echo "$CRONPLUS_SCHEDULED_FOR" >> transformed.txt', "touch going; sleep 30")
    )

    def interrupt_from_this_thread() -> None:
        wait_until(lambda: (project.root / "going").exists(), timeout=60)
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    signaller = threading.Thread(target=interrupt_from_this_thread)
    signaller.start()
    try:
        marked, released = mark_run(
            project.config(),
            project.store(),
            StatePaths(project.state),
            "extract",
            AT,
            RunStatus.SUCCEEDED,
            "by hand",
            release=True,
            install_signals=(signal.SIGINT,),
        )
    finally:
        signaller.join()
    assert [(r.job, r.status) for r in released] == [("transform", RunStatus.INTERRUPTED)]
    assert project.store().find_run("load", AT) is None
