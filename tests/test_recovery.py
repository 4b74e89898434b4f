"""What a starting daemon does with the runs a dead cronplus process left unfinished:
adopt the attempts still going or ended unrecorded, mark the dead daemon's other runs
to be resumed, settle a dead trigger's. Real files and processes, no daemon."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cronplus._wrapper import ONE_SHELL, command_argv, status_path_for, wrapper_argv
from cronplus.clock import SystemClock
from cronplus.model import Attempt, AttemptResult, Claim, RunStatus, Trigger
from cronplus.recovery import take_over

T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
JOBS = """
    [jobs.j]
    command = "true"
    retries = 2
"""


def dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def started_run(project, *, status_file: str | None):
    """A run with one attempt recorded; `status_file` is what its wrapper left."""
    store = project.store()
    run = store.claim_run("j", T0, Trigger.SCHEDULE, Claim(owner=os.getpid(), now=T0))
    log = project.root / "1-1.log"
    store.begin_attempt(run.id, Attempt(1, T0, log=str(log)), owner=os.getpid())
    if status_file is not None:
        status_path_for(log).write_text(status_file)
    return store, run


def test_an_attempt_that_never_started_is_dropped_and_the_run_resumed(project):
    project.write(JOBS)
    store, run = started_run(project, status_file=None)
    assert take_over(store, project.config(), SystemClock(), None) == []
    got = store.get_run(run.id)
    assert got.status is RunStatus.INTERRUPTED and got.attempts == ()
    assert "before the attempt started" in got.reason
    assert store.resumable() == [(run.id, 0)]


def test_an_attempt_cut_short_with_no_outcome_does_not_count_against_retries(project):
    project.write(JOBS)
    store, run = started_run(project, status_file="")
    assert take_over(store, project.config(), SystemClock(), None) == []
    got = store.get_run(run.id)
    assert got.status is RunStatus.INTERRUPTED and "outcome unknown" in got.reason
    assert len(got.attempts) == 1 and got.attempts[0].finished_at is not None
    assert store.resumable() == [(run.id, 0)]


def test_an_attempt_that_ended_unwatched_is_adopted_with_its_outcome(project):
    project.write(JOBS)
    store, run = started_run(project, status_file="3\n")
    [adopted] = take_over(store, project.config(), SystemClock(), None)
    assert adopted.run.id == run.id and adopted.spent == 0
    assert isinstance(adopted.handle, AttemptResult)
    assert adopted.handle.status is RunStatus.FAILED and adopted.handle.exit_code == 3
    assert store.resumable() == []


def test_a_run_waiting_for_a_retry_keeps_its_spent_attempts(project):
    project.write(JOBS)
    store, run = started_run(project, status_file="1\n")
    store.finish_attempt(
        run.id, 1, AttemptResult(RunStatus.FAILED, T0, T0, exit_code=1), waiting="retry in 5s"
    )
    take_over(store, project.config(), SystemClock(), None)
    assert store.get_run(run.id).status is RunStatus.INTERRUPTED
    assert store.resumable() == [(run.id, 1)]


def test_a_dead_triggers_run_is_settled_not_resumed(project):
    project.write(JOBS)
    store = project.store()
    pid = dead_pid()  # as a `cronplus trigger` that was SIGKILLed left it
    run = store.claim_run("j", T0, Trigger.MANUAL, Claim(owner=pid, now=T0))
    take_over(store, project.config(), SystemClock(), previous_daemon=dead_pid())
    got = store.get_run(run.id)
    assert got.status is RunStatus.INTERRUPTED and f"pid {pid}" in got.reason
    assert store.resumable() == []


@pytest.mark.parametrize("one_shell", [True, False], ids=["one shell", "two shells"])
def test_a_live_wrapper_is_found_by_its_status_path_and_adopted(
    project, tmp_path: Path, one_shell: bool
):
    """The job outlived the process that started it: found even with no pid recorded,
    whichever wrapper runs it (its own `sh -c` or the wrapper's subshell)."""
    project.write(JOBS)
    store, run = started_run(project, status_file=None)
    log = Path(store.get_run(run.id).last_attempt.log)
    status = status_path_for(log)
    if one_shell:
        argv = command_argv(status, "/bin/sh", "sleep 0.5; true")
        assert argv[2] == ONE_SHELL
    else:
        argv = wrapper_argv(status, ["sh", "-c", "sleep 0.5"])
    wrapper = subprocess.Popen(argv, start_new_session=True)
    try:
        from conftest import wait_until

        wait_until(lambda: status_path_for(log).exists())
        [adopted] = take_over(store, project.config(), SystemClock(), None)
        assert adopted.handle.pid == wrapper.pid
        result = adopted.handle.wait()
        assert result.status is RunStatus.SUCCEEDED and result.exit_code == 0
    finally:
        wrapper.wait()


def test_attempts_cut_short_twice_still_do_not_count(project):
    """Cut short by a crash, resumed, cut short again: still no retry used up."""
    project.write(JOBS)
    store, run = started_run(project, status_file="")
    take_over(store, project.config(), SystemClock(), None)
    assert (
        store.reopen_run(run.id, [RunStatus.INTERRUPTED], Claim(owner=os.getpid(), now=T0))
        is not None
    )
    log2 = project.root / "1-2.log"
    store.begin_attempt(run.id, Attempt(2, T0, log=str(log2)), owner=os.getpid())
    status_path_for(log2).write_text("")
    take_over(store, project.config(), SystemClock(), None)
    assert len(store.get_run(run.id).attempts) == 2
    assert store.resumable() == [(run.id, 0)]


def one_shell_job(project, command: str):
    """A run claimed by a process that is gone, its attempt's `/bin/sh` job still
    going under a wrapper whose pid was never recorded (a crash in its first moment)."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    store = project.store()
    run = store.claim_run("j", T0, Trigger.SCHEDULE, Claim(owner=gone.pid, now=T0))
    log = project.root / "1-1.log"
    store.begin_attempt(run.id, Attempt(1, T0, log=str(log)), owner=gone.pid)
    status = status_path_for(log)
    wrapper = subprocess.Popen(command_argv(status, "/bin/sh", command), start_new_session=True)
    return store, run, status, wrapper


def test_the_subshell_of_a_one_shell_job_is_never_taken_for_its_wrapper(project):
    """The job's subshell has its wrapper's very argv; only the wrapper leads a session."""
    from conftest import wait_until

    from cronplus._wrapper import find_wrapper

    project.write(JOBS)
    _, _, status, wrapper = one_shell_job(project, "sleep 3; true")
    try:

        def with_the_path() -> list[int]:
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
            return [p for p in pids if _has_arg(p, str(status))]

        def subshells() -> list[int]:  # the wrapper's children with its argv (a fork of
            # the subshell, before it execs `sleep`, has it too for a moment)
            return [p for p in with_the_path() if _parent(p) == wrapper.pid]

        (subshell,) = wait_until(lambda: len(subshells()) == 1 and subshells())
        assert find_wrapper(status, subshell) is None
        assert find_wrapper(status) == wrapper.pid
    finally:
        os.killpg(wrapper.pid, 15)
        wrapper.wait()


def test_status_sees_a_job_going_whose_wrapper_pid_was_never_recorded(project):
    from conftest import wait_until

    from cronplus.report import _orphaned

    project.write(JOBS)
    store, run, status, wrapper = one_shell_job(project, "sleep 3")
    try:
        wait_until(lambda: status.exists())
        assert store.get_run(run.id).last_attempt.pid is None
        assert not _orphaned(store, store.get_run(run.id))
    finally:
        os.killpg(wrapper.pid, 15)
        wrapper.wait()
    assert _orphaned(store, store.get_run(run.id))  # and once it is gone, it is


def _has_arg(pid: int, arg: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return os.fsencode(arg) in f.read().split(b"\0")
    except OSError:
        return False


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
