"""`max_log_bytes`: an attempt's log keeps its head and tail around one marker line,
and stays near that size on disk while the job runs (issue 14)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import wait_until

from cronplus import _logcap, _wrapper, executor
from cronplus.clock import SystemClock
from cronplus.errors import ExitCode
from cronplus.model import Job, RunStatus
from cronplus.web import _logs

MIB = 1 << 20
# Lines "000000 xxxx...\n" of 100 bytes each: every byte's place is known.
LINES = """
import sys
for i in range(int(sys.argv[1])):
    sys.stdout.write(f"{i:06d} " + "x" * 92 + "\\n")
"""


# A noisy job: `x`s in 64 KiB writes, resting 2 ms after each 256 KiB (up to ~120 MiB/s).
# A watcher keeps up with it unless it is kept off the CPU for a whole burst and more;
# a firehose of GB/s is `bench/log_cap.py`'s.
FLOOD = """
import os, sys, time
out, chunk = sys.stdout.buffer, b"x" * 65536
bound = int(sys.argv[2])  # what the log may hold on disk
for i in range(int(sys.argv[1]) // 65536):
    # Paced by the log itself: the next chunk waits until the watcher has freed room
    # for it, so the bound is a fact of the product, not of this machine's load. If
    # nothing frees the log's middle while it runs, the job fails.
    deadline = time.monotonic() + 30
    while os.fstat(1).st_blocks * 512 + len(chunk) > bound:
        if time.monotonic() > deadline:
            sys.exit(9)
        time.sleep(0.001)
    out.write(chunk)
    out.flush()
"""


def expected(n: int) -> bytes:
    return b"".join(f"{i:06d} ".encode() + b"x" * 92 + b"\n" for i in range(n))


def only_log(project) -> Path:
    (log,) = (project.state / "logs").glob("*/*.log")
    return log


def test_a_long_log_keeps_its_head_and_tail_around_an_exact_marker(project, cli):
    project.write(LINES, "lines.py")
    project.write('[jobs.chatty]\ncommand = "python3 lines.py 30000"\nmax_log_bytes = "64K"\n')
    assert cli("trigger", "chatty", "--wait").exit_code == ExitCode.OK
    whole, half = expected(30_000), 32 * 1024
    omitted = len(whole) - 2 * half
    shown = whole[:half] + b"\n" + _logcap.marker(omitted) + whole[-half:]
    assert only_log(project).read_bytes() == shown
    assert f"[cronplus: {omitted} bytes omitted]" in cli("logs", "chatty").stdout


@pytest.mark.parametrize(("value", "whole"), [("0", True), ('"1M"', True), ("1000", False)])
def test_a_log_within_its_cap_or_with_no_cap_is_kept_whole(project, cli, value, whole):
    project.write(LINES, "lines.py")
    project.write(
        f'[defaults]\nmax_log_bytes = {value}\n[jobs.j]\ncommand = "python3 lines.py 2000"\n'
    )
    assert cli("trigger", "j", "--wait").exit_code == ExitCode.OK
    data = only_log(project).read_bytes()
    assert (data == expected(2000)) == whole
    assert (b"[cronplus: 199000 bytes omitted]" in data) != whole


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('"10MB"', 'max_log_bytes must be a number of bytes, or a string such as "512K"'),
        ("-1", "max_log_bytes must be a number of bytes"),
        ("true", "max_log_bytes must be a number of bytes"),
    ],
)
def test_max_log_bytes_must_be_a_size(project, cli, value, problem):
    project.write(f'[jobs.j]\ncommand = "true"\nmax_log_bytes = {value}\n')
    result = cli("validate")
    assert result.exit_code == ExitCode.USAGE
    assert f'jobs.toml:3: job "j": {problem}' in result.stderr


@pytest.mark.parametrize(
    ("value", "size"),
    [("0", 0), ("1500", 1500), ('"2k"', 2048), ('"10M"', 10 * MIB), ('"1G"', 1 << 30)],
)
def test_max_log_bytes_reads_bytes_k_m_g(project, value, size):
    project.write(f'[defaults]\nmax_log_bytes = {value}\n[jobs.j]\ncommand = "true"\n')
    assert project.config().jobs["j"].max_log_bytes == size


def test_the_default_cap_is_10_mib(project):
    project.write('[jobs.j]\ncommand = "true"\n')
    assert project.config().jobs["j"].max_log_bytes == 10 * MIB


def _peak_on_disk(proc: subprocess.Popen, logs: Path) -> tuple[int, int]:
    """The most blocks the one log under `logs` held while `proc` ran, in bytes, and
    how many times it was looked at."""
    peak = looks = 0
    while proc.poll() is None:
        for log in logs.glob("*/*.log"):
            try:
                peak = max(peak, log.stat().st_blocks * 512)
                looks += 1
            except FileNotFoundError:
                pass
        time.sleep(0.0005)
    return peak, looks


def test_a_running_log_never_takes_more_than_its_cap_and_1_mib_on_disk(project):
    total = 40 * MIB
    project.write(FLOOD, "flood.py")
    bound = MIB + _logcap.SLACK
    project.write(
        f'[jobs.flood]\ncommand = "python3 flood.py {total} {bound}"\nmax_log_bytes = "1M"\n'
    )
    argv = [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", str(project.state)]
    proc = subprocess.Popen([*argv, "trigger", "flood", "--wait"], stdout=subprocess.DEVNULL)
    peak, looks = _peak_on_disk(proc, project.state / "logs")
    assert proc.returncode == 0
    assert looks > 10
    assert peak <= MIB + _logcap.SLACK, peak
    data = only_log(project).read_bytes()
    assert data == b"x" * (MIB // 2) + b"\n" + _logcap.marker(total - MIB) + b"x" * (MIB // 2)


def _job(**kw) -> Job:
    return Job(name="j", cwd=Path.cwd(), **kw)


def test_an_adopted_attempt_is_capped_by_its_watcher(project):
    """A wrapper another process started (as after a daemon's crash) is capped and
    compacted by whoever adopts it."""
    log = project.root / "1-1.log"
    status = _wrapper.status_path_for(log)
    project.write(FLOOD, "flood.py")
    bound = 256 * 1024 + _logcap.SLACK
    command = f"python3 flood.py {20 * MIB} {bound}; sleep 0.2; python3 flood.py {20 * MIB} {bound}"
    argv = _wrapper.command_argv(status, "/bin/sh", command)
    with open(log, "ab") as out:
        wrapper = subprocess.Popen(argv, stdout=out, start_new_session=True)
    job = _job(command=command, max_log_bytes=256 * 1024)
    handle = executor.adopt_attempt(job, wrapper.pid, log, datetime.now(UTC), clock=SystemClock())
    assert isinstance(handle, executor.AttemptHandle)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(handle.wait)  # a worker thread watches it, as after recovery
        peak = 0
        while wrapper.poll() is None:
            peak = max(peak, log.stat().st_blocks * 512)
            time.sleep(0.001)
        result = waiting.result()
    assert result.status is RunStatus.SUCCEEDED
    assert peak <= 256 * 1024 + _logcap.SLACK
    half = 128 * 1024
    tail = b"x" * half
    assert log.read_bytes() == tail + b"\n" + _logcap.marker(40 * MIB - 2 * half) + tail


def test_readers_show_a_running_logs_hole_as_one_marker_line(tmp_path):
    """While the job runs the freed middle is a hole: `logs`, the page's tail and the raw
    log read a marker line there, never its zeros."""
    log = tmp_path / "x.log"
    log.write_bytes(b"head\n" + b"y" * (3 * MIB) + b"tail\n")
    watch = _logcap.CAPPER.watch(log, 64 * 1024)
    assert watch is not None
    try:
        assert os.stat(log).st_blocks * 512 < 512 * 1024  # the middle is freed
        text, _end = _logs.read_range(os.fspath(log), going=True)
        assert "\0" not in text
        omitted = re.findall(r"\[cronplus: (\d+) bytes omitted\]", text)
        assert len(omitted) == 1
        assert text.startswith("head\n") and text.endswith("tail\n")
        assert len(text) - len(f"[cronplus: {omitted[0]} bytes omitted]\n") + int(omitted[0]) == (
            log.stat().st_size
        )
        tail = _logs.tail(os.fspath(log), max_bytes=4 * MIB)
        assert "\0" not in tail.text and "bytes omitted]" in tail.text
    finally:
        _logcap.CAPPER.finish(watch, log)
    assert log.stat().st_size < 64 * 1024 + 100


def test_an_attempt_that_ended_unwatched_is_compacted_when_found(project):
    """An attempt that ended while no cronplus ran: the daemon that finds it caps its log."""
    log = project.root / "1-1.log"
    log.write_bytes(b"a" * MIB + b"b" * MIB)
    _wrapper.status_path_for(log).write_text("0\n")
    job = _job(command="true", max_log_bytes=1000)
    result = executor.ended_attempt(job, log, datetime.now(UTC), SystemClock())
    assert result.status is RunStatus.SUCCEEDED
    assert log.read_bytes() == b"a" * 500 + b"\n" + _logcap.marker(2 * MIB - 1000) + b"b" * 500


BACKGROUND = (
    "head -c 300000 /dev/zero | tr '\\\\0' a; echo;"
    " (sleep 1; echo LATE-OUTPUT-FROM-CHILD) & echo parent-done"
)


def test_a_background_childs_output_after_the_attempt_is_kept_and_capped(project, cli):
    """A process the job left running still holds the log: the log is compacted only
    once the attempt's group is empty, so what it writes later is in it."""
    project.write(f'[jobs.j]\ncommand = "{BACKGROUND}"\nmax_log_bytes = "64K"\n')
    assert cli("trigger", "j", "--wait").exit_code == ExitCode.OK
    whole = b"a" * 300_000 + b"\nparent-done\nLATE-OUTPUT-FROM-CHILD\n"
    half = 32 * 1024
    shown = whole[:half] + b"\n" + _logcap.marker(len(whole) - 2 * half) + whole[-half:]
    wait_until(lambda: only_log(project).read_bytes() == shown, timeout=1 + 3 * _logcap.LINGER_S)


def test_compacting_again_keeps_the_marker_and_counts_what_was_added(tmp_path):
    log = tmp_path / "1-1.log"
    whole = expected(3000)  # 300,000 bytes
    log.write_bytes(whole)
    _logcap.compact(log, 64 * 1024)
    first = log.read_bytes()
    _logcap.compact(log, 64 * 1024)  # as recovery's executor.ended_attempt may do again
    assert log.read_bytes() == first
    assert _logcap.marker(len(whole) - 64 * 1024) in first
    with open(log, "ab") as f:  # a writer the group did not show (it left it)
        f.write(b"z" * 1000)
    _logcap.compact(log, 64 * 1024)
    half = 32 * 1024
    assert log.read_bytes() == (
        whole[:half]
        + b"\n"
        + _logcap.marker(len(whole) + 1000 - 2 * half)
        + (whole + b"z" * 1000)[-half:]
    )


class _PunchedWhileRead:
    """A log whose hole a watcher widens while the reader reads past it."""

    def __init__(self, f, punch) -> None:
        self._f, self._punch = f, punch

    def __getattr__(self, name):
        return getattr(self._f, name)

    def read(self, n):
        punch, self._punch = self._punch, None
        if punch:
            punch()
        return self._f.read(n)


def test_a_hole_widened_while_read_shows_as_one_marker(tmp_path):
    log = tmp_path / "x.log"
    block = max(4096, os.stat(tmp_path).st_blksize)
    log.write_bytes(b"h" * block + b"y" * (64 * block) + b"t" * (8 * block))
    libc = _logcap._libc()
    fd = os.open(log, os.O_RDWR)

    def punch(start: int, end: int) -> None:
        assert libc.fallocate(fd, _logcap._PUNCH, start, end - start) == 0

    try:
        punch(block, 16 * block)
        with open(log, "rb") as raw:
            f = _PunchedWhileRead(raw, lambda: punch(16 * block, 40 * block))
            f.seek(block)  # the head was read: the hole comes next
            text = b""
            while (part := _logcap.read_present(f, 1 << 16))[1]:
                text += part[0]
    finally:
        os.close(fd)
    assert b"\0" not in text
    assert text == _logcap.marker(39 * block) + b"y" * (25 * block) + b"t" * (8 * block)


def test_an_orphan_settled_by_a_backfill_has_its_log_capped(project):
    """`settle_orphan` (a backfill or `mark` meeting a dead trigger's run) caps the log
    of the attempt that ended unwatched, as the daemon's recovery does."""
    from cronplus.model import Attempt, Claim, Trigger
    from cronplus.recovery import SettleResult, settle_orphan

    project.write('[jobs.j]\ncommand = "true"\nmax_log_bytes = 1000\n')
    store, t0 = project.store(), datetime(2026, 11, 23, 10, tzinfo=UTC)
    gone = subprocess.Popen(["true"])
    gone.wait()
    run = store.claim_run("j", t0, Trigger.MANUAL, Claim(owner=gone.pid, now=t0))
    log = project.root / "1-1.log"
    log.write_bytes(b"a" * MIB + b"b" * MIB)
    _wrapper.status_path_for(log).write_text("0\n")
    store.begin_attempt(run.id, Attempt(1, t0, log=str(log)), owner=gone.pid)
    job = project.config().jobs["j"]
    assert settle_orphan(store, store.get_run(run.id), SystemClock(), job) is SettleResult.SETTLED
    assert store.get_run(run.id).status is RunStatus.SUCCEEDED
    assert log.read_bytes() == b"a" * 500 + b"\n" + _logcap.marker(2 * MIB - 1000) + b"b" * 500
