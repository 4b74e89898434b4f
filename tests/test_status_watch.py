"""Issue 14, "At the terminal": `status --watch` on a real terminal (a pty: rich
`Live`, refreshed each second, Ctrl-C exits 0 without a traceback) and piped (a plain
snapshot each second)."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from conftest import record

from cronplus.model import Attempt, Claim, Trigger

CLOCK = re.compile(rb"\| (\d\d:\d\d:\d\d) \|")


def state(project) -> None:
    project.write("""
        [jobs.load]
        schedule = "0 3 * * *"
        command = "true"

        [jobs.sync]
        command = "true"
    """)
    now = datetime.now(UTC).replace(microsecond=0)
    store = project.store()
    record(store, "load", now - timedelta(hours=2), "failed", exits=(1,), reason="exit 1")
    record(store, "load", now - timedelta(days=3), "timed_out", exits=(None,), signal="SIGKILL")
    going = store.claim_run("sync", now, Trigger.MANUAL, Claim(owner=1, now=now))
    store.begin_attempt(going.id, Attempt(1, now - timedelta(seconds=75)), owner=1)
    store.close()


def argv(project) -> list[str]:
    return [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", str(project.state)]


def read_until(fd: int, enough, timeout: float = 30.0, got: bytes = b"") -> bytes:
    """`got` and bytes from `fd` until `enough` holds of them; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not enough(got):
        left = deadline - time.monotonic()
        assert left > 0, got.decode(errors="replace")[-2000:]
        if select.select([fd], [], [], left)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the pty's other end closed
                chunk = b""
            assert chunk, f"the output ended: {got.decode(errors='replace')[-2000:]}"
            got += chunk
    return got


def test_watch_on_a_terminal_refreshes_and_ctrl_c_exits_0(project):
    state(project)
    master, slave = os.openpty()
    env = {**os.environ, "COLUMNS": "160", "LINES": "50", "TERM": "xterm"}
    proc = subprocess.Popen(
        [*argv(project), "status", "--watch"],
        cwd=project.root,
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(slave)
    try:
        shown = read_until(master, lambda b: len(set(CLOCK.findall(b))) >= 2)
        assert b"no daemon" in shown and b"load" in shown and b"\x1b[" in shown  # rich
        assert b"Failed in the last 24 hours" in shown and b"exit 1" in shown
        assert b"SIGKILL" not in shown  # three days ago
        assert re.search(rb"sync .*manual.*1m1[5-9]s", shown), shown  # elapsed time
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert proc.stderr.read() == b""
    finally:
        proc.kill()
        os.close(master)


def test_watch_piped_prints_a_plain_snapshot_each_second(project):
    state(project)
    proc = subprocess.Popen(
        [*argv(project), "status", "--watch"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out = proc.stdout.fileno()
        got = read_until(out, lambda b: b.count(b"\n\n") >= 1)  # start-up included
        # The next one a second later: within 2.5 s even on a loaded machine.
        got = read_until(out, lambda b: b.count(b"\n\n") >= 2, timeout=2.5, got=got)
        first, second = got.decode().split("\n\n")[:2]
        assert "\x1b[" not in first + second
        for shown in (first, second):
            assert shown.startswith("=== cronplus status --watch | ")
            assert "| no daemon ===" in shown.splitlines()[0]
            assert "failed in 24h: load" in shown and "running: sync" in shown
            assert "SIGKILL" not in shown  # three days ago
        assert CLOCK.search(first.encode()).group(1) != CLOCK.search(second.encode()).group(1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert proc.stderr.read() == b""
    finally:
        proc.kill()
