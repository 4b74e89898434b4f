"""The one-shell wrappers (issue 12): the status file is kept open (fd 9) from the
wrapper's start to its end, so the status costs one open of the file, not two, and
the job never sees that fd; a simple command runs without the subshell, one process
fewer per run, and is recorded, stopped and found as one in the subshell is; a
wrapper started by the script before these is still found."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from cronplus import _wrapper
from cronplus._wrapper import ONE_SHELL, SIMPLE, command_argv, find_wrapper, read_status_file
from tests.conftest import wait_until


@pytest.mark.parametrize(
    ("command", "script"),
    [
        ("ls /proc/self/fd", SIMPLE),
        ("true; ls /proc/self/fd", ONE_SHELL),
        ("[ -e /proc/self/fd/9 ] && echo open || echo closed", ONE_SHELL),
    ],
    ids=["simple", "subshell's child", "subshell"],
)
def test_the_job_does_not_inherit_the_status_files_descriptor(
    tmp_path: Path, command: str, script: str
):
    status = tmp_path / "1-1.log.status"
    argv = command_argv(status, "/bin/sh", command)
    assert argv[2] == script
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert "open" not in done.stdout.split() and "9" not in done.stdout.split()
    assert read_status_file(status) == (0, None)
    assert status.read_bytes() == b"0\n"
    assert status.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("command", "code", "script"),
    [
        ("false", 1, SIMPLE),
        ("ls /no/such/path", 2, SIMPLE),
        ("no-such-command-here", 127, SIMPLE),
        ("exit 7", 7, ONE_SHELL),
        # TERM to the whole group: the wrapper outlives the job and records it.
        ("kill -s TERM 0; sleep 5", 143, ONE_SHELL),
    ],
)
def test_how_the_job_ended_is_recorded_through_the_open_descriptor(
    tmp_path: Path, command: str, code: int, script: str
):
    status = tmp_path / "1-1.log.status"
    argv = command_argv(status, "/bin/sh", command)
    assert argv[2] == script
    done = subprocess.run(argv, check=False, start_new_session=True, capture_output=True)
    assert done.returncode == code
    assert status.read_text() == f"{code}\n"


def test_the_subshell_is_kept_for_what_could_change_or_end_the_wrappers_shell():
    for command in ("exit 3", "exec sleep 1", "cd /tmp", "set -e", "read x", "kill 0"):
        assert command_argv(Path("s"), "/bin/sh", command)[2] == ONE_SHELL, command
    for command in ("a; b", "a && b", "a | b", "a > f", 'echo "x"', "ls *", "X=1 a", "a\nb"):
        assert command_argv(Path("s"), "/bin/sh", command)[2] == ONE_SHELL, command
    for command in ("true", "echo a b", "/usr/bin/backup --full", "dd if=a of=b"):
        assert command_argv(Path("s"), "/bin/sh", command)[2] == SIMPLE, command


def test_a_simple_commands_error_reads_as_in_the_subshell(tmp_path: Path):
    outputs = []
    for script in (SIMPLE, ONE_SHELL):
        argv = command_argv(tmp_path / "s", "/bin/sh", "no-such-command-here")
        argv[2] = script
        outputs.append(subprocess.run(argv, capture_output=True, text=True).stderr)
    assert outputs[0] == outputs[1] == "/bin/sh: 1: eval: no-such-command-here: not found\n"


def test_a_simple_command_is_one_process_fewer_and_stopped_by_term(tmp_path: Path):
    status = tmp_path / "1-1.log.status"
    wrapper = subprocess.Popen(command_argv(status, "/bin/sh", "sleep 30"), start_new_session=True)
    try:
        wait_until(lambda: _children(wrapper.pid))
        (job,) = _children(wrapper.pid)  # the job itself: no subshell between
        assert Path(f"/proc/{job}/comm").read_text().strip() == "sleep"
        assert find_wrapper(status) == wrapper.pid
        assert find_wrapper(status, job) is None
        os.killpg(wrapper.pid, signal.SIGTERM)
        assert wrapper.wait(timeout=10) == 143
        assert read_status_file(status) == (None, "SIGTERM")
    finally:
        with_group_gone(wrapper)


def test_a_wrapper_started_by_the_script_before_is_still_found(tmp_path: Path):
    status = tmp_path / "1-1.log.status"
    old = [_wrapper.SHELL, "-c", _wrapper._ONE_SHELL_BEFORE, _wrapper.SHELL, str(status)]
    wrapper = subprocess.Popen([*old, "sleep 3", "0022"], start_new_session=True)
    try:
        wait_until(status.exists)  # the shell runs the script: its argv is the wrapper's
        assert find_wrapper(status, wrapper.pid) == wrapper.pid
        assert find_wrapper(status) == wrapper.pid
    finally:
        with_group_gone(wrapper)


def _children(pid: int) -> list[int]:
    """`pid`'s children that have exec'd (a fork has its parent's argv a moment)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
        except OSError:
            continue
        if int(stat[1]) == pid and comm != "sh":
            found.append(int(entry))
    return found


def with_group_gone(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
