"""Is a process alive? Small /proc reads shared by recovery and the read commands.

Light on purpose: `status` uses it to tell a run that is going from one whose
process is gone, and must not import the executor for that.

A pid alone does not name a process that a state outlives (a reboot, a container
restart): pids are reused. `me` and `gone` name one by its pid, the kernel's boot
id and its start in clock ticks since boot, none of which a clock step changes.
Across hosts (issue 17) only a heartbeat tells: `live`.
"""

from __future__ import annotations

import functools
import os
import socket

TYPE_CHECKING = False  # typing costs a piped status's start (issue 12)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from cronplus.model import ProcessRecord

HOST_ENV = "CRONPLUS_HOST"  # names this process in the state (issue 17)

BOOT_ID = "/proc/sys/kernel/random/boot_id"


def alive(pid: int) -> bool:
    """A process exists with this pid and is not a zombie (a killed daemon its parent
    has not reaped yet is gone for our purposes)."""
    return _living(pid)[0]


def _living(pid: int) -> tuple[bool, list[bytes] | None]:
    """`alive(pid)`, and the fields of its /proc/PID/stat as read for that (one read)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False, None
    except PermissionError:
        pass
    fields = _stat(pid)
    return not fields or fields[0] != b"Z", fields


def _stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command's name (its last ')'): [0] is
    field 3 (the state), [19] field 22 (the start in ticks since boot)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_ticks(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot; None when unknown."""
    return _ticks(_stat(pid))


def _ticks(fields: list[bytes] | None) -> int | None:
    try:
        return int(fields[19]) if fields else None
    except (IndexError, ValueError):
        return None


@functools.cache
def boot_id() -> str | None:
    """This boot's id (a new one at each boot of the kernel); None when unreadable."""
    try:
        with open(BOOT_ID) as f:
            return f.read().strip() or None
    except OSError:
        return None


@functools.cache
def host() -> str:
    """This process's host name, as its rows in the state are recorded with it:
    `CRONPLUS_HOST` (issue 17: several daemons may share a machine), else what
    `hostname` prints."""
    return os.environ.get(HOST_ENV) or socket.gethostname()


@functools.cache
def _me(pid: int) -> tuple[int, str | None, int | None]:
    return pid, boot_id(), start_ticks(pid)


def me() -> tuple[int, str | None, int | None]:
    """This process: (pid, boot id, start ticks), read once per process."""
    return _me(os.getpid())


def gone(on: str, pid: int, boot: str | None, start: int | None) -> bool | None:
    """Whether the process recorded as `pid` of host `on` with that boot id and start
    is gone: its boot is over, or no live process has its pid, or the pid's process
    started at another tick (the pid was reused). None for another host's: unknown.
    An identity part recorded as None (unknown) is not compared."""
    if on != host():
        return None
    if boot is not None and boot_id() is not None and boot != boot_id():
        return True
    living, fields = _living(pid)  # one read of its stat: a waiter asks at each look
    if not living:
        return True
    now = _ticks(fields) if start is not None else None
    return now is not None and now != start


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


def live(processes: Iterable[ProcessRecord], now: datetime) -> list[ProcessRecord]:
    """The processes whose heartbeat is within their lease at `now`, the database's
    clock (issue 17): the others are dead, whatever /proc says of their pid."""
    return [p for p in processes if now - p.heartbeat_at <= p.lease]
