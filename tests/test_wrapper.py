"""The one-shell wrapper keeps its status file open (fd 9) from its start to its end,
so the status costs one open of the file, not two; the job never sees that fd, and a
wrapper started by the script before it is still found (issue 12)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cronplus import _wrapper
from cronplus._wrapper import ONE_SHELL, command_argv, find_wrapper, read_status_file
from tests.conftest import wait_until


@pytest.mark.parametrize(
    "command",
    # The subshell's own fds (a builtin), and those of a process it starts.
    ["[ -e /proc/self/fd/9 ] && echo open || echo closed", "ls /proc/self/fd"],
    ids=["subshell", "child"],
)
def test_the_job_does_not_inherit_the_status_files_descriptor(tmp_path: Path, command: str):
    status = tmp_path / "1-1.log.status"
    argv = command_argv(status, "/bin/sh", command)
    assert argv[2] == ONE_SHELL
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert "open" not in done.stdout.split() and "9" not in done.stdout.split()
    assert read_status_file(status) == (0, None)
    assert status.read_bytes() == b"0\n"


def test_a_job_that_fails_or_exits_is_recorded_through_the_open_descriptor(tmp_path: Path):
    # The last one TERMs its whole group: the wrapper outlives the job and records it.
    for command, code in (("false", 1), ("exit 7", 7), ("kill -s TERM 0; sleep 5", 143)):
        status = tmp_path / f"{code}.status"
        argv = command_argv(status, "/bin/sh", command)
        assert argv[2] == ONE_SHELL
        done = subprocess.run(argv, check=False, start_new_session=True)
        assert done.returncode == code
        assert status.read_text() == f"{code}\n"
        assert status.stat().st_mode & 0o777 == 0o600


def test_a_wrapper_started_by_the_script_before_is_still_found(tmp_path: Path):
    status = tmp_path / "1-1.log.status"
    old = [_wrapper.SHELL, "-c", _wrapper._ONE_SHELL_BEFORE, _wrapper.SHELL, str(status)]
    wrapper = subprocess.Popen([*old, "sleep 3", "0022"], start_new_session=True)
    try:
        wait_until(status.exists)  # the shell runs the script: its argv is the wrapper's
        assert find_wrapper(status, wrapper.pid) == wrapper.pid
        assert find_wrapper(status) == wrapper.pid
    finally:
        os.killpg(wrapper.pid, 15)
        wrapper.wait()
