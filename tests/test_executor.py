"""The executor against real processes and real files: one attempt, no database."""

from __future__ import annotations

import dataclasses
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cronplus._wrapper import read_status_file, status_path_for
from cronplus.clock import SystemClock
from cronplus.executor import AttemptHandle, build_env, start_attempt
from cronplus.model import AttemptResult, Job, RunStatus
from cronplus.procs import host

# 2026-03-29 is the spring-forward day in Berlin: 01:30Z is 03:30+02:00 there.
SCHEDULED_FOR = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Bounded polling: fail with a clear message instead of hanging or sleeping blindly."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.01)


def is_gone(pid: int) -> bool:
    """True once `pid` no longer runs. A zombie counts as gone: it is dead, and where
    PID 1 does not reap orphans (some containers) it stays a zombie forever."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.fixture
def job(tmp_path: Path) -> Job:
    # A short kill_grace bounds every stop: where PID 1 reaps orphans late, their
    # zombies keep the group alive until the grace ends.
    return Job(
        name="load",
        command="true",
        cwd=tmp_path,
        timezone="Europe/Berlin",
        kill_grace=timedelta(seconds=1),
    )


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "load" / "1-1.log"


def env_for(job: Job, **kwargs: object) -> dict[str, str]:
    defaults: dict[str, object] = {
        "run_id": 41,
        "attempt": 2,
        "trigger": "manual",
        "scheduled_for": SCHEDULED_FOR,
    }
    return build_env(job, **{**defaults, **kwargs})  # type: ignore[arg-type]


def run(job: Job, log_path: Path, jobs_folder: Path | None = None) -> AttemptResult:
    """Start one attempt and wait for it."""
    folder = jobs_folder if jobs_folder is not None else job.cwd
    started = start_attempt(job, env_for(job), log_path, jobs_folder=folder, clock=SystemClock())
    return started if isinstance(started, AttemptResult) else started.wait()


def start(job: Job, log_path: Path) -> AttemptHandle:
    handle = start_attempt(job, env_for(job), log_path, jobs_folder=job.cwd, clock=SystemClock())
    assert isinstance(handle, AttemptHandle), handle
    return handle


def shell(job: Job, command: str, **changes: object) -> Job:
    return dataclasses.replace(job, command=command, **changes)  # type: ignore[arg-type]


# -- exit status and output ----------------------------------------------------------


def test_success(job: Job, log_path: Path) -> None:
    before = datetime.now(UTC)
    result = run(shell(job, "exit 0"), log_path)
    assert result.status is RunStatus.SUCCEEDED
    assert (result.exit_code, result.signal, result.reason) == (0, None, None)
    assert before <= result.started_at <= result.finished_at <= datetime.now(UTC)
    assert result.started_at.tzinfo is UTC


def test_nonzero_exit_fails_with_its_code(job: Job, log_path: Path) -> None:
    result = run(shell(job, "exit 3"), log_path)
    assert result.status is RunStatus.FAILED
    assert (result.exit_code, result.signal, result.reason) == (3, None, "exit code 3")


def test_stdout_and_stderr_go_to_the_log(job: Job, log_path: Path) -> None:
    run(shell(job, "echo to-stdout; echo to-stderr >&2; echo again"), log_path)
    assert log_path.read_text() == "to-stdout\nto-stderr\nagain\n"


def test_log_is_owner_only_and_its_folder_is_created(job: Job, log_path: Path) -> None:
    assert not log_path.parent.exists()
    run(job, log_path)
    assert stat.S_IMODE(log_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log_path.parent.stat().st_mode) & 0o077 == 0


def test_a_log_left_at_an_attempts_path_is_started_afresh(job: Job, log_path: Path) -> None:
    # An attempt's log is its own: a file left by an earlier use of the name (a pruned
    # run's, issue 14) is not continued.
    run(shell(job, "echo one"), log_path)
    run(shell(job, "echo two"), log_path)
    assert log_path.read_text() == "two\n"


def test_huge_output_goes_to_the_log_without_cronplus_reading_it(job: Job, log_path: Path) -> None:
    uncapped = dataclasses.replace(job, max_log_bytes=0)  # the default would keep 10 MiB
    result = run(shell(uncapped, "head -c 52428800 /dev/zero"), log_path)
    assert result.status is RunStatus.SUCCEEDED
    assert log_path.stat().st_size == 52428800


def test_stdin_is_dev_null(job: Job, log_path: Path, tmp_path: Path) -> None:
    # `cat` would block forever on an inherited terminal or pipe.
    result = run(shell(job, "cat; readlink /proc/self/fd/0 > stdin.txt"), log_path)
    assert result.status is RunStatus.SUCCEEDED
    assert (tmp_path / "stdin.txt").read_text() == "/dev/null\n"


def test_job_runs_in_its_own_session(job: Job, log_path: Path, tmp_path: Path) -> None:
    handle = start(shell(job, "cut -d' ' -f5,6 /proc/$$/stat > ids.txt"), log_path)
    assert handle.wait().status is RunStatus.SUCCEEDED
    pgid, sid = (int(n) for n in (tmp_path / "ids.txt").read_text().split())
    assert pgid == sid == handle.pid != os.getpgid(0)


# -- environment ---------------------------------------------------------------------


def test_env_carries_run_metadata_in_the_jobs_zone(job: Job) -> None:
    env = build_env(
        job,
        run_id=41,
        attempt=2,
        trigger="backfill",
        scheduled_for=datetime(2026, 3, 28, 23, 30, tzinfo=UTC),
        base_env={"PATH": "/bin"},
    )
    assert env == {
        "PATH": "/bin",
        "CRONPLUS_JOB": "load",
        "CRONPLUS_RUN_ID": "41",
        "CRONPLUS_ATTEMPT": "2",
        "CRONPLUS_TRIGGER": "backfill",
        "CRONPLUS_SCHEDULED_FOR": "2026-03-29T00:30:00+01:00",
        "CRONPLUS_LOGICAL_DATE": "2026-03-29",
        "CRONPLUS_HOST": host(),  # issue 17
    }


def test_env_layers_base_then_job_then_metadata(job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_CRONPLUS", "yes")
    monkeypatch.setenv("OVERRIDDEN", "base")
    job = dataclasses.replace(job, env={"OVERRIDDEN": "job", "CRONPLUS_JOB": "spoof"})
    env = env_for(job)
    assert env["FROM_CRONPLUS"] == "yes"
    assert env["OVERRIDDEN"] == "job"
    assert env["CRONPLUS_JOB"] == "load"


def test_naive_scheduled_for_is_a_bug(job: Job) -> None:
    with pytest.raises(ValueError, match="aware"):
        env_for(job, scheduled_for=datetime(2026, 1, 1))


def test_job_sees_env_and_metadata_is_never_shell_code(
    job: Job, log_path: Path, tmp_path: Path
) -> None:
    job = shell(
        job,
        'printf "%s|%s|%s|%s\\n" "$CRONPLUS_JOB" "$CRONPLUS_ATTEMPT" '
        '"$CRONPLUS_SCHEDULED_FOR" "$SECRET" > env.txt',
        name="load $(touch pwned-by-name)",
        env={"SECRET": "$(touch pwned-by-env)", "st": "kept", "s": "kept"},
    )
    result = run(job, log_path)
    assert result.status is RunStatus.SUCCEEDED
    assert (tmp_path / "env.txt").read_text() == (
        "load $(touch pwned-by-name)|2|2026-03-29T03:30:00+02:00|$(touch pwned-by-env)\n"
    )
    assert not list(tmp_path.glob("pwned*"))


def test_wrapper_assigns_no_variable_the_job_could_see(
    job: Job, log_path: Path, tmp_path: Path
) -> None:
    job = shell(job, 'echo "$st $s" > vars.txt', env={"st": "a", "s": "b"})
    run(job, log_path)
    assert (tmp_path / "vars.txt").read_text() == "a b\n"


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]


def cmdline(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read()


def test_a_sh_job_runs_in_a_subshell_of_the_wrapper_not_a_second_shell(
    job: Job, log_path: Path
) -> None:
    """Issue 12: one exec of the shell per attempt. The job's shell is a fork of the
    wrapper (the same argv), not a `sh -c` of its own."""
    handle = start(shell(job, "sleep 30; true"), log_path)
    try:
        wait_until(lambda: children(handle.pid))
        [subshell] = children(handle.pid)
        assert cmdline(subshell) == cmdline(handle.pid)
        # Polled: until its exec, the subshell's child shows the subshell's argv.
        wait_until(lambda: [cmdline(c) for c in children(subshell)] == [b"sleep\x0030\x00"])
    finally:
        handle.interrupt()
        assert handle.wait().status is RunStatus.INTERRUPTED


def test_a_sh_job_sees_its_shell_as_0_and_no_arguments(
    job: Job, log_path: Path, tmp_path: Path
) -> None:
    run(shell(job, 'echo "$0 $# [$*]" > args.txt'), log_path)
    assert (tmp_path / "args.txt").read_text() == "/bin/sh 0 []\n"


def test_a_job_that_reads_its_pid_gets_its_own_shell(
    job: Job, log_path: Path, tmp_path: Path
) -> None:
    """In a subshell $$ would be the wrapper's pid, which ignores TERM: a job that
    signals or records itself by $$ keeps a shell of its own."""
    handle = start(shell(job, "echo $$ > pid.txt; exec kill -TERM $(cat pid.txt)"), log_path)
    result = handle.wait()
    assert int((tmp_path / "pid.txt").read_text()) != handle.pid
    assert (result.exit_code, result.signal) == (None, "SIGTERM")


# -- cannot start ----------------------------------------------------------------------


def test_missing_cwd_fails_with_reason(job: Job, log_path: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    result = run(dataclasses.replace(job, cwd=missing), log_path)
    assert result.status is RunStatus.FAILED
    assert result.reason == f'cwd "{missing}" does not exist'
    assert (result.exit_code, result.signal) == (None, None)
    assert result.started_at == result.finished_at


def test_cwd_that_is_a_file_fails_with_reason(job: Job, log_path: Path, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    result = run(dataclasses.replace(job, cwd=afile), log_path)
    assert result.status is RunStatus.FAILED
    assert result.reason == f'cwd "{afile}" is not a directory'


def test_missing_shell_fails_with_reason(job: Job, log_path: Path) -> None:
    result = run(dataclasses.replace(job, shell="/no/such/shell"), log_path)
    assert result.status is RunStatus.FAILED
    assert result.reason == 'shell "/no/such/shell" does not exist'


def test_shell_not_executable_fails_with_reason(job: Job, log_path: Path, tmp_path: Path) -> None:
    not_executable = tmp_path / "myshell"
    not_executable.write_text("#!/bin/sh\n")
    not_executable.chmod(0o644)
    result = run(dataclasses.replace(job, shell=str(not_executable)), log_path)
    assert result.status is RunStatus.FAILED
    assert result.reason == f'shell "{not_executable}" is not executable'


def test_shell_by_name_is_looked_up_on_the_jobs_path(job: Job, log_path: Path) -> None:
    assert run(dataclasses.replace(job, shell="sh"), log_path).status is RunStatus.SUCCEEDED
    result = run(dataclasses.replace(job, shell="no-such-shell-here"), log_path)
    assert result.reason == 'shell "no-such-shell-here" not found on PATH'


def test_unwritable_log_fails_with_reason(job: Job, tmp_path: Path) -> None:
    log_dir = tmp_path / "a-directory.log"
    log_dir.mkdir()
    result = run(job, log_dir)
    assert result.status is RunStatus.FAILED
    assert result.reason == f'cannot write log "{log_dir}": Is a directory'


def test_command_not_found_is_exit_127(job: Job, log_path: Path) -> None:
    result = run(shell(job, "no-such-command-xyz --flag"), log_path)
    assert result.status is RunStatus.FAILED
    assert result.exit_code == 127
    assert result.reason == "exit code 127: command not found"
    assert "no-such-command-xyz" in log_path.read_text()


# -- signals, timeouts, interrupts -----------------------------------------------------


def test_job_killed_by_a_signal_reports_its_name(job: Job, log_path: Path) -> None:
    result = run(shell(job, "kill -KILL $$"), log_path)
    assert result.status is RunStatus.FAILED
    assert (result.exit_code, result.signal) == (None, "SIGKILL")
    assert result.reason == "killed by SIGKILL"


def test_timeout_kills_grandchild(job: Job, log_path: Path, tmp_path: Path) -> None:
    job = shell(
        job,
        "sleep 300 & echo $! > pidfile; wait",
        timeout=timedelta(seconds=0.5),
    )
    result = run(job, log_path)
    assert result.status is RunStatus.TIMED_OUT
    assert result.reason == "timed out after 0.5s"
    assert (result.exit_code, result.signal) == (None, "SIGTERM")
    grandchild = int((tmp_path / "pidfile").read_text())
    wait_until(lambda: is_gone(grandchild), timeout=5)


def test_job_ignoring_sigterm_is_killed_after_grace(
    job: Job, log_path: Path, tmp_path: Path
) -> None:
    job = shell(
        job,
        'trap "" TERM; touch ready; sleep 300 & echo $! > pidfile; wait',
        timeout=timedelta(seconds=0.5),
        kill_grace=timedelta(seconds=0.3),
    )
    result = run(job, log_path)
    assert result.status is RunStatus.TIMED_OUT
    assert (tmp_path / "ready").exists(), "TERM came before the trap: raise the timeout"
    assert (result.exit_code, result.signal) == (None, "SIGKILL")
    assert (result.finished_at - result.started_at) >= timedelta(seconds=0.8)
    grandchild = int((tmp_path / "pidfile").read_text())
    wait_until(lambda: is_gone(grandchild), timeout=5)


def test_timeout_records_the_jobs_own_exit_after_sigterm(job: Job, log_path: Path) -> None:
    job = shell(
        job,
        "trap 'echo cleaning up; exit 5' TERM; touch ready; sleep 300 & wait",
        timeout=timedelta(seconds=0.5),
    )
    result = run(job, log_path)
    assert result.status is RunStatus.TIMED_OUT
    assert (result.exit_code, result.signal) == (5, None)
    assert "cleaning up" in log_path.read_text()


def test_an_attempts_start_end_and_timeout_are_read_from_the_callers_clock(
    job: Job, log_path: Path, tmp_path: Path
) -> None:
    from conftest import FakeClock

    start_at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    clock = FakeClock(start_at)
    job = shell(job, "touch started; exec sleep 300", timeout=timedelta(hours=1))
    handle = start_attempt(job, env_for(job), log_path, jobs_folder=job.cwd, clock=clock)
    assert isinstance(handle, AttemptHandle)
    wait_until((tmp_path / "started").exists)
    clock.advance(3601)  # no real hour passes: the timeout is on the fake clock
    result = handle.wait()
    assert result.status is RunStatus.TIMED_OUT
    assert result.started_at == start_at
    assert result.finished_at == start_at + timedelta(seconds=3601)


def test_interrupt_from_another_thread(job: Job, log_path: Path, tmp_path: Path) -> None:
    handle = start(shell(job, "touch started; exec sleep 300"), log_path)
    results: list[AttemptResult] = []
    waiter = threading.Thread(target=lambda: results.append(handle.wait()))
    waiter.start()
    wait_until((tmp_path / "started").exists)
    handle.interrupt()
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    [result] = results
    assert result.status is RunStatus.INTERRUPTED
    assert result.reason == "interrupted: cronplus stopped"
    assert result.signal == "SIGTERM"
    assert is_gone(handle.pid)


def test_ended_within_says_whether_the_attempt_is_over_without_ending_it(
    job: Job, log_path: Path
) -> None:
    """What the runner asks before recording the pid: False while it goes on, True once
    it ended or was interrupted; wait() still gives the outcome either way."""
    quick = start(shell(job, "exit 3"), log_path)
    assert quick.ended_within(10)
    assert quick.wait().exit_code == 3
    going = start(shell(job, "sleep 30"), log_path)
    assert not going.ended_within(0.05)
    going.interrupt("stop it")
    assert going.ended_within(10)
    assert going.wait().reason == "stop it"


def test_ended_within_never_waits_past_the_timeout(job: Job, log_path: Path) -> None:
    handle = start(shell(job, "sleep 30", timeout=timedelta(seconds=0.2)), log_path)
    began = time.monotonic()
    assert handle.ended_within(60)
    assert time.monotonic() - began < 5
    assert handle.wait().status is RunStatus.TIMED_OUT


def test_interrupt_before_wait_takes_the_given_reason(job: Job, log_path: Path) -> None:
    handle = start(shell(job, "sleep 300"), log_path)
    handle.interrupt("interrupted: shutting down")
    handle.interrupt("ignored: the first reason wins")
    result = handle.wait()
    assert result.status is RunStatus.INTERRUPTED
    assert result.reason == "interrupted: shutting down"
    handle.interrupt()  # after the end: a no-op, not an error on a closed pipe
    assert handle.wait() is result


def test_a_job_that_ends_with_success_despite_the_stop_is_recorded_succeeded(
    job: Job, log_path: Path, tmp_path: Path
) -> None:
    """A stop's TERM that the job outlives (one landing while the wrapper forks it is
    lost; or the job finishes its work on TERM) and an exit 0: the job says it did its
    work, so the attempt succeeded. Recorded interrupted, the daemon's next start would
    run it again: a run executed twice."""
    done = tmp_path / "done"
    handle = start(shell(job, f"trap '' TERM; sleep 0.5; touch {done}; exit 0"), log_path)
    wait_until(lambda: children(handle.pid))
    handle.interrupt("interrupted: cronplus stopped")
    result = handle.wait()
    assert done.exists()
    assert (result.status, result.exit_code, result.reason) == (RunStatus.SUCCEEDED, 0, None)
    failing = start(shell(job, "trap '' TERM; sleep 0.5; exit 3"), log_path.with_name("b.log"))
    wait_until(lambda: children(failing.pid))
    failing.interrupt("interrupted: cronplus stopped")
    assert failing.wait().status is RunStatus.INTERRUPTED  # cut short or not: unknown


# -- status file -------------------------------------------------------------------------


def test_status_file_records_the_exit_status(job: Job, log_path: Path) -> None:
    handle = start(shell(job, "exit 3"), log_path)
    assert handle.wait().exit_code == 3
    assert handle.status_path == status_path_for(log_path)
    assert handle.status_path.name == "1-1.log.status"
    assert handle.status_path.read_text() == "3\n"


def test_status_file_is_owner_only_and_the_job_keeps_its_umask(
    job: Job, log_path: Path, tmp_path: Path
) -> None:
    previous = os.umask(0o022)
    try:
        for command in (
            "exit 0",
            "touch made; sleep 0.3",
        ):  # ended before, or after, Popen returned
            handle = start(shell(job, command), log_path)
            status = handle.status_path
            wait_until(status.exists)
            assert stat.S_IMODE(status.stat().st_mode) == 0o600
            handle.wait()
            assert stat.S_IMODE(status.stat().st_mode) == 0o600
            assert read_status_file(status) == (0, None)
            assert stat.S_IMODE(log_path.stat().st_mode) == 0o600
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "made").stat().st_mode) == 0o644  # the job's own umask


@pytest.mark.parametrize("command", ["umask", "echo $$ >/dev/null; umask"], ids=["1", "2"])
def test_the_job_gets_the_starters_umask_whichever_wrapper(
    job: Job, log_path: Path, command: str
) -> None:
    """The one-shell wrapper creates its status file under umask 077 and gives the
    job the starter's umask back; the two-shell one never changes it."""
    previous = os.umask(0o027)
    try:
        run(shell(job, command), log_path)
    finally:
        os.umask(previous)
    assert log_path.read_text() == "0027\n"
    assert stat.S_IMODE(status_path_for(log_path).stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("0\n", (0, None)),
        ("3\n", (3, None)),
        ("128\n", (128, None)),
        ("137\n", (None, "SIGKILL")),
        ("143\n", (None, "SIGTERM")),
        ("255\n", (255, None)),
        ("", None),
        ("garbage", None),
    ],
)
def test_read_status_file(tmp_path: Path, content: str, expected: object) -> None:
    path = tmp_path / "x.log.status"
    path.write_text(content)
    assert read_status_file(path) == expected


def test_read_status_file_missing_is_none(tmp_path: Path) -> None:
    assert read_status_file(tmp_path / "nothing.status") is None


def test_stale_status_file_is_removed_before_start(job: Job, log_path: Path) -> None:
    log_path.parent.mkdir(parents=True)
    status_path_for(log_path).write_text("0\n")
    handle = start(shell(job, "sleep 300"), log_path)
    assert read_status_file(handle.status_path) is None
    handle.interrupt()
    result = handle.wait()
    assert result.status is RunStatus.INTERRUPTED


def test_job_survives_daemon_crash_and_its_status_is_recorded(
    job: Job, log_path: Path, tmp_path: Path
) -> None:
    """A process starts the attempt and is SIGKILLed; the job runs on and records its end."""
    job = shell(job, "while [ ! -e go ]; do sleep 0.02; done; echo finished; exit 7")
    daemon = textwrap.dedent(
        f"""
        import os, signal, sys
        from pathlib import Path
        from cronplus.clock import SystemClock
        from cronplus.executor import start_attempt
        from cronplus.model import Job
        job = Job(name="load", command={job.command!r}, cwd=Path({str(tmp_path)!r}))
        handle = start_attempt(job, dict(os.environ), Path({str(log_path)!r}),
                               jobs_folder=job.cwd, clock=SystemClock())
        print(handle.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    crashed = subprocess.run(
        [sys.executable, "-c", daemon], capture_output=True, text=True, timeout=30
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    pid = int(crashed.stdout)
    assert not is_gone(pid), "the job died with the daemon"
    (tmp_path / "go").touch()
    status_path = status_path_for(log_path)
    wait_until(lambda: read_status_file(status_path) is not None)
    assert read_status_file(status_path) == (7, None)
    assert log_path.read_text() == "finished\n"
    wait_until(lambda: is_gone(pid))


# -- Python jobs -------------------------------------------------------------------------


@pytest.fixture
def jobs_folder(tmp_path: Path) -> Path:
    """A jobs folder apart from the job's cwd (tmp_path), to tell the two apart."""
    folder = tmp_path / "jobs"
    folder.mkdir()
    return folder


def python_job(job: Job, folder: Path, source: str, func: str = "main") -> Job:
    (folder / "myjobs.py").write_text(textwrap.dedent(source))
    return dataclasses.replace(job, command=None, python=f"myjobs:{func}")


def test_python_job_receives_declared_arguments_in_its_cwd(
    job: Job, log_path: Path, jobs_folder: Path, tmp_path: Path
) -> None:
    job = python_job(
        job,
        jobs_folder,
        """
        from pathlib import Path

        def main(job, scheduled_for, attempt):
            assert scheduled_for.tzinfo is not None
            Path("args.txt").write_text(f"{job!r} {scheduled_for.isoformat()} {attempt!r}")
        """,
    )
    result = run(job, log_path, jobs_folder)
    assert result.status is RunStatus.SUCCEEDED, log_path.read_text()
    assert (tmp_path / "args.txt").read_text() == "'load' 2026-03-29T03:30:00+02:00 2"


def test_python_job_with_kwargs_gets_everything(
    job: Job, log_path: Path, jobs_folder: Path, tmp_path: Path
) -> None:
    job = python_job(
        job,
        jobs_folder,
        """
        from pathlib import Path

        def main(**kwargs):
            Path("args.txt").write_text(" ".join(sorted(kwargs)))
        """,
    )
    assert run(job, log_path, jobs_folder).status is RunStatus.SUCCEEDED, log_path.read_text()
    assert (tmp_path / "args.txt").read_text() == "attempt job scheduled_for"


def test_python_job_gets_only_what_it_declares(
    job: Job, log_path: Path, jobs_folder: Path, tmp_path: Path
) -> None:
    job = python_job(
        job,
        jobs_folder,
        """
        from pathlib import Path

        def nothing():
            Path("nothing.txt").write_text("called")

        def some(attempt, *, other=None):
            Path("some.txt").write_text(f"{attempt} {other}")
        """,
    )
    nothing = dataclasses.replace(job, python="myjobs:nothing")
    assert run(nothing, log_path, jobs_folder).status is RunStatus.SUCCEEDED
    assert (tmp_path / "nothing.txt").read_text() == "called"
    some = dataclasses.replace(job, python="myjobs:some")
    assert run(some, log_path, jobs_folder).status is RunStatus.SUCCEEDED, log_path.read_text()
    assert (tmp_path / "some.txt").read_text() == "2 None"


def test_python_job_exception_is_exit_1_with_traceback_in_log(
    job: Job, log_path: Path, jobs_folder: Path
) -> None:
    job = python_job(
        job,
        jobs_folder,
        """
        def main():
            print("before the crash")
            raise ValueError("boom")
        """,
    )
    result = run(job, log_path, jobs_folder)
    assert result.status is RunStatus.FAILED
    assert result.exit_code == 1
    log = log_path.read_text()
    assert log.startswith("before the crash\nTraceback (most recent call last):\n")
    assert 'myjobs.py", line 4, in main' in log
    assert log.endswith("ValueError: boom\n")
    assert "_pyjob" not in log


def test_python_job_system_exit_gives_its_code(job: Job, log_path: Path, jobs_folder: Path) -> None:
    job = python_job(job, jobs_folder, "import sys\ndef main():\n    sys.exit(3)\n")
    result = run(job, log_path, jobs_folder)
    assert (result.status, result.exit_code) == (RunStatus.FAILED, 3)
    assert log_path.read_text() == ""


def test_python_job_module_not_found(job: Job, log_path: Path, jobs_folder: Path) -> None:
    job = dataclasses.replace(job, command=None, python="no_such_module:main")
    result = run(job, log_path, jobs_folder)
    assert (result.status, result.exit_code) == (RunStatus.FAILED, 1)
    assert log_path.read_text() == (
        f'cronplus: module "no_such_module" not found '
        f'(looked in the jobs folder "{jobs_folder}" first, then sys.path)\n'
    )


def test_python_job_broken_import_inside_module_shows_traceback(
    job: Job, log_path: Path, jobs_folder: Path
) -> None:
    job = python_job(job, jobs_folder, "import no_such_dependency\ndef main():\n    pass\n")
    result = run(job, log_path, jobs_folder)
    assert result.exit_code == 1
    log = log_path.read_text()
    assert "Traceback" in log
    assert "ModuleNotFoundError: No module named 'no_such_dependency'" in log


def test_python_job_function_not_found(job: Job, log_path: Path, jobs_folder: Path) -> None:
    job = python_job(job, jobs_folder, "def main():\n    pass\n", func="mian")
    result = run(job, log_path, jobs_folder)
    assert (result.status, result.exit_code) == (RunStatus.FAILED, 1)
    assert log_path.read_text() == 'cronplus: module "myjobs" has no function "mian"\n'


def test_python_job_folder_is_first_on_sys_path(
    job: Job, log_path: Path, jobs_folder: Path, tmp_path: Path
) -> None:
    # A module of the same name in the cwd must lose to the one in the jobs folder.
    (tmp_path / "myjobs.py").write_text("def main():\n    raise SystemExit(9)\n")
    job = python_job(
        job,
        jobs_folder,
        """
        import sys
        from pathlib import Path

        def main():
            Path("path0.txt").write_text(sys.path[0])
        """,
    )
    result = run(job, log_path, jobs_folder)
    assert result.status is RunStatus.SUCCEEDED, log_path.read_text()
    assert (tmp_path / "path0.txt").read_text() == str(jobs_folder)


def test_python_job_gets_scheduled_for_in_its_zone(
    job: Job, log_path: Path, jobs_folder: Path, tmp_path: Path
) -> None:
    # The same instant with the job's ZoneInfo, not a fixed offset: a day earlier is
    # 03:30 on the wall clock, before the spring-forward, so +01:00.
    job = python_job(
        job,
        jobs_folder,
        """
        from datetime import timedelta
        from pathlib import Path

        def main(scheduled_for):
            day_before = scheduled_for - timedelta(days=1)
            Path("tz.txt").write_text(f"{scheduled_for.tzinfo!r} {day_before.isoformat()}")
        """,
    )
    assert run(job, log_path, jobs_folder).status is RunStatus.SUCCEEDED, log_path.read_text()
    assert (tmp_path / "tz.txt").read_text() == (
        "zoneinfo.ZoneInfo(key='Europe/Berlin') 2026-03-28T03:30:00+01:00"
    )


def test_async_python_job_is_run_to_its_end(
    job: Job, log_path: Path, jobs_folder: Path, tmp_path: Path
) -> None:
    job = python_job(
        job,
        jobs_folder,
        """
        import asyncio
        from pathlib import Path

        async def main(job, attempt):
            await asyncio.sleep(0.01)
            Path("async.txt").write_text(f"{job} {attempt}")
        """,
    )
    result = run(job, log_path, jobs_folder)
    assert result.status is RunStatus.SUCCEEDED, log_path.read_text()
    assert (tmp_path / "async.txt").read_text() == "load 2"
    assert log_path.read_text() == ""  # no "coroutine ... was never awaited"


def test_async_python_job_exception_is_exit_1_with_only_its_own_traceback(
    job: Job, log_path: Path, jobs_folder: Path
) -> None:
    job = python_job(
        job,
        jobs_folder,
        """
        import asyncio

        async def main():
            await asyncio.sleep(0)
            raise ValueError("async boom")
        """,
    )
    result = run(job, log_path, jobs_folder)
    assert (result.status, result.exit_code) == (RunStatus.FAILED, 1)
    log = log_path.read_text()
    assert log.startswith("Traceback (most recent call last):\n")
    assert log.splitlines()[1].endswith('myjobs.py", line 6, in main')
    assert log.endswith("ValueError: async boom\n")
    assert "asyncio" not in log and "_pyjob" not in log


def test_async_python_job_system_exit_gives_its_code(
    job: Job, log_path: Path, jobs_folder: Path
) -> None:
    job = python_job(job, jobs_folder, "import sys\nasync def main():\n    sys.exit(3)\n")
    result = run(job, log_path, jobs_folder)
    assert (result.status, result.exit_code) == (RunStatus.FAILED, 3)
