"""Start and stop a real `cronplus run` for the bench scripts (shared by idle and lateness)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


def start_daemon(root: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`cronplus run` on root/jobs.toml with state in root/state, returned once it logged
    `event=started`; its stderr goes to root/daemon.stderr."""
    err_path = root / "daemon.stderr"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cronplus", "-c", str(root / "jobs.toml"),
             "--state", str(root / "state"), "run"],
            cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=err, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_S
    while b"event=started" not in err_path.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_daemon(proc)
            sys.exit(f"the daemon did not start:\n{err_path.read_text()}")
        time.sleep(0.05)
    return proc


def stop_daemon(proc: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM, a bounded wait, then SIGKILL to the whole group whatever happened."""
    code = proc.poll()
    try:
        if code is None:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(STOP_TIMEOUT_S)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return code
