"""Is a process alive? Small /proc reads shared by recovery and the read commands.

Light on purpose: `status` uses it to tell a run that is going from one whose
process is gone, and must not import the executor for that.
"""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """A process exists with this pid and is not a zombie (a killed daemon its parent
    has not reaped yet is gone for our purposes)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def cmdline(pid: int) -> list[bytes] | None:
    """The arguments of process `pid`; None when it is gone (a zombie's are empty)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return None


def all_pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def runs_with_arg(pid: int, arg: str) -> bool:
    """Whether process `pid` is alive with `arg` among its arguments: an attempt's
    wrapper carries its status file's path, so a reused pid is not taken for it."""
    return os.fsencode(arg) in (cmdline(pid) or ())


def any_runs_with_arg(arg: str) -> bool:
    """Whether any live process has `arg` among its arguments (a search of /proc, for
    an attempt whose wrapper pid was never recorded)."""
    return any(runs_with_arg(pid, arg) for pid in all_pids())
