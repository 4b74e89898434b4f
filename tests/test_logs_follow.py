"""Issue 14, "At the terminal": `logs JOB -f` follows a run live, as a real `trigger`
process runs it, attempt after attempt, and waits for a run not yet made."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime

from conftest import wait_until

from cronplus import _logcap
from cronplus.clock import SystemClock
from cronplus.follow import follow_run
from cronplus.model import Attempt, AttemptResult, Claim, RunEnd, RunStatus, SeenRun, Trigger
from cronplus.recovery import settle_orphan

FLAKY = """
    [jobs.flaky]
    command = "n=$CRONPLUS_ATTEMPT; echo start-$n; sleep 1; echo end-$n; test $n -ge 2"
    retries = 1
    retry_delay = "0s"

    [jobs.broken]
    command = "echo once; sleep 0.5; exit 3"
"""


def cronplus(project, *args: str, **kw) -> subprocess.Popen:
    argv = [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", str(project.state)]
    return subprocess.Popen(
        [*argv, *args],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_follow_waits_for_the_next_run_and_shows_each_attempt_as_it_comes(project):
    project.write(FLAKY)
    project.store().close()  # the state exists; the job has no run yet
    follow = cronplus(project, "logs", "flaky", "-f")
    trigger = cronplus(project, "trigger", "flaky", "--wait")
    code, out, err = finish(follow)
    assert finish(trigger)[0] == 0
    assert (code, err) == (0, "")
    assert out == "start-1\nend-1\n--- attempt 2 ---\nstart-2\nend-2\n"


def test_follow_from_the_middle_of_a_run_prints_the_output_so_far_and_exits_1(project, cli):
    project.write(FLAKY)
    trigger = cronplus(project, "trigger", "broken", "--wait")

    def started():
        run = project.store().latest_run("broken")
        return run is not None and run.attempts

    wait_until(started, timeout=30)
    code, out, err = finish(cronplus(project, "logs", "broken", "-f"))
    assert (code, out, err) == (1, "once\n", "")
    finish(trigger)
    # Over already: what it printed, and its outcome.
    assert finish(cronplus(project, "logs", "broken", "--follow"))[:2] == (1, "once\n")


def test_ctrl_c_stops_following_with_130_and_no_traceback(project):
    project.write(FLAKY)
    project.store().close()
    follow = cronplus(project, "logs", "flaky", "-f")
    wait_until(lambda: _waiting(follow.pid), timeout=30)
    follow.send_signal(signal.SIGINT)
    assert finish(follow) == (130, "", "")


def _waiting(pid: int) -> bool:
    """The follower waits between two looks at the state, past its start-up: a SIGINT
    while Python still imports would be click's "Aborted!", not the command's stop."""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return "futex" in f.read()
    except OSError:
        return False


T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)


def one_attempt(project, data: bytes):
    """A run going, its one attempt's log holding `data`."""
    project.write('[jobs.j]\ncommand = "true"\n')
    store = project.store()
    run = store.claim_run("j", T0, Trigger.MANUAL, Claim(owner=os.getpid(), now=T0))
    log = project.root / "1-1.log"
    log.write_bytes(data)
    store.begin_attempt(run.id, Attempt(1, T0, log=str(log)), owner=os.getpid())
    return store, store.get_run(run.id), log


def end(store, run, status=RunStatus.SUCCEEDED, *, attempt=True):
    last = (1, AttemptResult(status, T0, T0)) if attempt else None
    store.finish_run(run.id, RunEnd(status, "why", T0, last_attempt=last))


def test_follow_shows_a_running_logs_freed_middle_as_its_marker(project):
    store, run, log = one_attempt(project, b"head\n" + b"y" * (3 << 20) + b"tail\n")
    watch = _logcap.CAPPER.watch(log, 64 * 1024)  # the middle punched: zeros on disk
    out: list[bytes] = []
    try:
        end(store, run)
        assert follow_run(store, run, out.append, threading.Event(), SystemClock()) is not None
    finally:
        _logcap.CAPPER.finish(watch, log)
    shown = b"".join(out)
    assert b"\0" not in shown
    assert shown.startswith(b"head\n") and shown.endswith(b"ytail\n")
    assert shown.count(b"bytes omitted]") == 1


def test_follow_ends_with_a_run_interrupted_whose_attempt_was_left_open(project):
    """A run whose process died: settled `interrupted` with its attempt never closed
    (as a daemon's error path leaves it), the follower prints the log and exits 1."""
    store, run, _log = one_attempt(project, b"so far\n")
    end(store, run, RunStatus.INTERRUPTED, attempt=False)
    assert store.get_run(run.id).attempts[0].finished_at is None
    follow = cronplus(project, "logs", "j", "-f")
    assert finish(follow) == (1, "so far\n", "")


def test_settling_an_orphan_closes_its_open_attempt(project):
    store, run, _log = one_attempt(project, b"")
    gone = subprocess.Popen(["true"])
    gone.wait()
    store.adopt_run(run.id, SeenRun(os.getpid(), 1), owner=gone.pid)
    settle_orphan(store, store.get_run(run.id), SystemClock())
    got = store.get_run(run.id)
    assert got.status is RunStatus.INTERRUPTED and got.attempts[0].finished_at is not None


def test_follow_reads_on_across_a_compaction(project):
    """The log replaced by its compacted self while followed: nothing it had not shown
    is skipped (it reads on the file it opened)."""
    whole = b"".join(f"{i:06d} ".encode() + b"x" * 92 + b"\n" for i in range(3000))
    store, run, log = one_attempt(project, whole[:100_000])
    out: list[bytes] = []
    stop = threading.Event()
    follower = threading.Thread(
        target=follow_run, args=(store, run, out.append, stop, SystemClock())
    )
    follower.start()
    try:
        wait_until(lambda: len(b"".join(out)) == 100_000)
        with open(log, "ab") as f:
            f.write(whole[100_000:])
        _logcap.compact(log, 128 * 1024)  # the attempt ends: head + marker + tail
        end(store, run)
        follower.join(timeout=30)
    finally:
        stop.set()
    assert b"".join(out) == whole
