"""One attempt of one job: its own session, output to its log file, timeout -> TERM -> KILL.

The executor never touches the store: an attempt runs without a database, and the
caller records what `AttemptHandle.wait()` returns.

Crash survival (issue 3, "Running jobs"): the process we start is a tiny `/bin/sh`
wrapper that runs the job as its child and, when the job ends, writes the job's exit
status to `<log>.status` (see `status_path_for`) before exiting with that status. The
wrapper leads its own session, so if the daemon dies the job keeps running and its
outcome still reaches the status file, where `read_status_file` recovers it. This
costs one extra fork per attempt and no Python interpreter for shell jobs.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from cronplus.model import AttemptResult, Job, RunStatus

# The wrapper gets the status file as $0 and the job's argv as "$@", so no shell
# variable is assigned before the job starts: assigning one would change an
# exported variable of the same name in the job's environment. It traps the
# group-wide stop signals with a no-op so that it outlives the job and records how
# the job reacted to them (a job that dies of SIGTERM is recorded as 143); exec
# resets caught signals, so the job still gets the default actions. Only SIGKILL
# kills the wrapper before it can write, and then the caller knows which signal it sent.
#
# Its first act is to create the status file empty: "the job was started". After a
# crash, a missing file means the attempt never started (nothing ran), an empty one
# that it started and its outcome is unknown unless its wrapper is still alive.
_WRAPPER_SHELL = "/bin/sh"
_WRAPPER_SCRIPT = ': >"$0"; trap : TERM INT HUP; "$@"; s=$?; printf "%s\\n" "$s" >"$0"; exit "$s"'

_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
_EXIT_HINTS = {126: "command not executable", 127: "command not found"}
_SIGNAL_BASE = 128  # the shell reports "killed by signal n" as 128 + n
_MAX_SIGNAL = 64  # SIGRTMAX on Linux
_MAX_POLL_MS = 3_600_000  # longest single wait for an attempt's end; the loop goes on
_GROUP_CHECK_MAX_S = 0.05  # longest pause between checks that a stopping group is gone


class _Clock(Protocol):
    """The slice of `cronplus.clock.Clock` the executor uses (no import, see module doc)."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


def build_env(
    job: Job,
    *,
    run_id: int,
    attempt: int,
    trigger: str,
    scheduled_for: datetime,
    base_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The attempt's environment: the base (cronplus's own by default), then the job's
    env, then the run metadata as `CRONPLUS_*` variables.

    Metadata travels only in variables, never pasted into the shell string, so a job
    name or value can never be executed as shell code. Times are in the job's zone
    because that is the calendar its author thinks in.
    """
    if scheduled_for.tzinfo is None:
        raise ValueError(f"scheduled_for must be aware, got {scheduled_for!r}")
    local = scheduled_for.astimezone(ZoneInfo(job.timezone))
    env = dict(os.environ if base_env is None else base_env)
    env.update(job.env)
    env["CRONPLUS_JOB"] = job.name
    env["CRONPLUS_RUN_ID"] = str(run_id)
    env["CRONPLUS_ATTEMPT"] = str(attempt)
    env["CRONPLUS_TRIGGER"] = str(trigger)
    env["CRONPLUS_SCHEDULED_FOR"] = local.isoformat()
    env["CRONPLUS_LOGICAL_DATE"] = local.date().isoformat()
    return env


def status_path_for(log_path: Path) -> Path:
    """Where the wrapper writes the job's exit status: beside the log, `<log>.status`."""
    return log_path.with_name(log_path.name + ".status")


def read_status_file(path: Path) -> tuple[int | None, str | None] | None:
    """Return `(exit_code, signal_name)` from a status file, or None if it has no status.

    The file holds the job's `$?` as decimal digits and a newline. None means the
    job has not finished, or its wrapper was killed (SIGKILL) before it could write:
    the file is missing, empty (opened but not yet written) or not a number.

    Shell convention: a status in 129..192 means "killed by signal status-128" and is
    reported as `(None, "SIGxxx")`. A job that itself exits with such a code (say
    `exit 137`) is indistinguishable from one killed by that signal; the shell keeps
    no more than the number.
    """
    try:
        with open(path, "rb") as f:
            text = f.read(32)
    except FileNotFoundError:
        return None
    try:
        status = int(text)
    except ValueError:
        return None
    return _decode_shell_status(status)


class Trace(Enum):
    """What an attempt left behind, read after the process that started it died."""

    NEVER_STARTED = "never started"  # no status file: the wrapper never ran
    STARTED = "started"  # an empty one: started, no status written (yet)
    ENDED = "ended"  # a status: the job's outcome is known


def trace_of(status_path: Path) -> Trace:
    if read_status_file(status_path) is not None:
        return Trace.ENDED
    return Trace.STARTED if status_path.exists() else Trace.NEVER_STARTED


def find_wrapper(status_path: Path, pid: int | None = None) -> int | None:
    """The pid of the live wrapper running the attempt whose status file is
    `status_path`, or None.

    The wrapper's argv carries the status path, which names one attempt, so a pid
    reused by an unrelated process is never taken for it. `pid` (recorded when the
    attempt started) is tried first; without it, /proc is searched.
    """
    wanted = os.fsencode(status_path)
    candidates: list[int] = [pid] if pid is not None else []
    if not candidates:
        with contextlib.suppress(OSError):
            candidates = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    for candidate in candidates:
        try:
            # Empty for a zombie (exited, not yet reaped), which is gone for our purposes.
            with open(f"/proc/{candidate}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 3 and argv[3] == wanted and argv[2] == _SCRIPT_B:
            return candidate
    return None


_SCRIPT_B = _WRAPPER_SCRIPT.encode()


class _Adopted:
    """Stands in for the Popen of a wrapper another cronplus process started: it is
    not our child, so it cannot be reaped and its exit status is not ours to read
    (the status file has it)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> None:
        return None


def adopt_attempt(
    job: Job,
    pid: int,
    log_path: Path,
    started_at: datetime,
    *,
    clock: _Clock | None = None,
) -> AttemptHandle | AttemptResult:
    """Watch an attempt whose wrapper `pid` outlived the cronplus process that started
    it, as if we had started it: `wait()` returns its outcome and enforces the job's
    timeout from `started_at`; `interrupt()` stops its group. If it ended meanwhile,
    its result is returned at once."""
    now = clock.now if clock is not None else _utc_now
    monotonic = clock.monotonic if clock is not None else time.monotonic
    status_path = status_path_for(log_path)
    elapsed = max(0.0, (now() - started_at).total_seconds())
    proc = _Adopted(pid)
    try:
        handle = AttemptHandle(
            proc,  # type: ignore[arg-type]
            job,
            log_path,
            status_path,
            started_at,
            monotonic() - elapsed,
            clock,
        )
    except ProcessLookupError:  # it ended between finding it and now
        return ended_attempt(status_path, started_at, now())
    return handle


def ended_attempt(status_path: Path, started_at: datetime, at: datetime) -> AttemptResult:
    """The result of an attempt that is over, from what its wrapper wrote: the job's
    status, or `interrupted` when the wrapper died without writing one."""
    recorded = read_status_file(status_path)
    if recorded is None:
        why = "its outcome is unknown: the job's wrapper ended without recording it"
        return AttemptResult(RunStatus.INTERRUPTED, started_at, at, reason=why)
    code, sig = recorded
    ok = code == 0 and sig is None
    with contextlib.suppress(OSError):
        at = datetime.fromtimestamp(status_path.stat().st_mtime, UTC)
    return AttemptResult(
        status=RunStatus.SUCCEEDED if ok else RunStatus.FAILED,
        started_at=started_at,
        finished_at=at,
        exit_code=code,
        signal=sig,
        reason=None if ok else _describe_exit(code, sig),
    )


class AttemptHandle:
    """A started attempt. `wait()` (one worker thread) owns it; `interrupt()` may be
    called from any thread."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        job: Job,
        log_path: Path,
        status_path: Path,
        started_at: datetime,
        started_mono: float,
        clock: _Clock | None,
    ) -> None:
        self.pid = popen.pid  # == pgid: the wrapper leads its own session
        self.started_at = started_at
        self.log_path = log_path
        self.status_path = status_path
        self._popen = popen
        self._job = job
        self._started_mono = started_mono
        self._now = clock.now if clock is not None else _utc_now
        self._monotonic = clock.monotonic if clock is not None else time.monotonic
        # A pidfd turns "the process ended" into a readable fd, and the pipe turns
        # interrupt() into one, so wait() blocks on both at once without polling.
        # Both exist after Popen returns, so they add nothing to start lateness.
        self._pidfd = os.pidfd_open(popen.pid)
        self._wake_r, self._wake_w = os.pipe()
        self._lock = threading.Lock()  # interrupt() vs closing the fds in wait()
        self._wait_lock = threading.Lock()
        self._closed = False
        self._interrupt_reason: str | None = None
        self._result: AttemptResult | None = None

    def wait(self) -> AttemptResult:
        """Block until the attempt is over, enforcing the job's timeout, and say how it ended.

        Also performs the kill sequence for `interrupt()`, so a worker thread must be
        in `wait()` for an interrupt to take effect. Calling it again returns the same result.
        """
        with self._wait_lock:
            if self._result is None:
                try:
                    self._result = self._wait()
                finally:
                    self._close()
            return self._result

    def interrupt(self, reason: str = "interrupted: cronplus stopped") -> None:
        """Ask `wait()` to stop the attempt's whole group: TERM, then KILL after kill_grace.

        The result is `interrupted` with `reason`, unless the job ended on its own first
        or a timeout is already stopping it.
        """
        with self._lock:
            if self._closed or self._interrupt_reason is not None:
                return
            self._interrupt_reason = reason
            os.write(self._wake_w, b"\0")  # written once, so it can never block

    def _wait(self) -> AttemptResult:
        timeout = self._job.timeout
        deadline = None
        if timeout is not None:
            deadline = self._started_mono + timeout.total_seconds()
            timeout_reason = f"timed out after {_format(timeout)}"
        poller = select.poll()  # not select(): fds above 1024 are fine in a busy daemon
        poller.register(self._pidfd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while True:
            timeout_ms = None
            if deadline is not None:
                remaining = deadline - self._monotonic()
                if remaining <= 0:
                    status, reason = RunStatus.TIMED_OUT, timeout_reason
                    break
                # Capped: poll cannot take a wait of centuries (an allowed timeout);
                # the loop simply waits again.
                timeout_ms = min(math.ceil(remaining * 1000), _MAX_POLL_MS)
            ready = {fd for fd, _ in poller.poll(timeout_ms)}
            if self._pidfd in ready:  # ended on its own; wins over a simultaneous interrupt
                self._popen.wait()
                return self._result_from_exit()
            if self._wake_r in ready:
                status, reason = RunStatus.INTERRUPTED, self._interrupt_reason
                break
        self._stop_group()
        exit_code, signal_name = self._outcome()
        return AttemptResult(
            status=status,
            started_at=self.started_at,
            finished_at=self._now(),
            exit_code=exit_code,
            signal=signal_name,
            reason=reason,
        )

    def _stop_group(self) -> None:
        """TERM the whole group, give it kill_grace, then KILL whatever is left.

        The whole group, not just our child: `sh -c` jobs leave grandchildren (yacron
        signals only its child and they survive). The wrapper outlives the job (it
        traps TERM), so its exit means the job is gone; background processes the job
        started may remain, so the group is checked until it is empty or the grace ends.
        """
        grace_end = self._monotonic() + self._job.kill_grace.total_seconds()
        self._signal_group(signal.SIGTERM)
        if not self._wait_leader(grace_end):
            self._signal_group(signal.SIGKILL)
            self._popen.wait()
            return
        pause = 0.005
        while self._group_alive():
            remaining = grace_end - self._monotonic()
            if remaining <= 0:
                self._signal_group(signal.SIGKILL)
                return
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, _GROUP_CHECK_MAX_S)

    def _wait_leader(self, until: float) -> bool:
        """Wait for the wrapper to exit until `until` (monotonic); reap it if it did."""
        poller = select.poll()
        poller.register(self._pidfd, select.POLLIN)
        while True:
            remaining = until - self._monotonic()
            if poller.poll(max(0, math.ceil(remaining * 1000))):
                self._popen.wait()
                return True
            if remaining <= 0:
                return False

    def _signal_group(self, sig: signal.Signals) -> None:
        # Already gone, or a member we may not signal: either way nothing more to do.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _outcome(self) -> tuple[int | None, str | None]:
        """The job's own status from the status file; else what the wrapper's exit says."""
        recorded = read_status_file(self.status_path)
        if recorded is not None:
            return recorded
        returncode = self._popen.returncode
        if returncode is None:  # adopted: not our child, and it wrote no status
            return None, None
        if returncode < 0:  # the wrapper itself was killed, so the job was too
            return None, _signal_name(-returncode)
        return _decode_shell_status(returncode)

    def _result_from_exit(self) -> AttemptResult:
        if isinstance(self._popen, _Adopted):
            return ended_attempt(self.status_path, self.started_at, self._now())
        exit_code, signal_name = self._outcome()
        succeeded = exit_code == 0 and signal_name is None
        return AttemptResult(
            status=RunStatus.SUCCEEDED if succeeded else RunStatus.FAILED,
            started_at=self.started_at,
            finished_at=self._now(),
            exit_code=exit_code,
            signal=signal_name,
            reason=None if succeeded else _describe_exit(exit_code, signal_name),
        )

    def _close(self) -> None:
        with self._lock:
            self._closed = True
            for fd in (self._pidfd, self._wake_r, self._wake_w):
                os.close(fd)


def start_attempt(
    job: Job,
    env: Mapping[str, str],
    log_path: Path,
    *,
    jobs_folder: Path,
    clock: _Clock | None = None,
) -> AttemptHandle | AttemptResult:
    """Start one attempt and return its handle, or a `failed` result if it cannot start.

    "Cannot start" (missing cwd or shell, unwritable log) is a result with a reason,
    never an exception, so the caller records it like any other failure. A command
    that is not found inside the job's shell is the shell's exit 127, reported by
    `wait()`. `log_path`'s folder is created (0700) if missing. Everything not needed
    to start the process is done after Popen, to keep start lateness near a bare Popen.
    """
    now = clock.now if clock is not None else _utc_now
    status_path = status_path_for(log_path)
    if job.python is not None:
        shim = [sys.executable, "-m", "cronplus._pyjob"]
        child = [*shim, job.python, os.fspath(jobs_folder), job.timezone]
    elif job.command is not None:
        problem = _shell_problem(job.shell, env)
        if problem is not None:
            return _not_started(now(), problem)
        child = [job.shell, "-c", job.command]
    else:
        raise ValueError(f'job "{job.name}" has neither command nor python')
    cwd = os.fspath(job.cwd)
    try:
        _remove_stale(status_path)
        log_fd = _open_log(log_path)
    except OSError as exc:
        return _not_started(now(), f'cannot write log "{exc.filename}": {exc.strerror}')
    try:
        started_at = now()
        started_mono = clock.monotonic() if clock is not None else time.monotonic()
        popen = subprocess.Popen(
            [_WRAPPER_SHELL, "-c", _WRAPPER_SCRIPT, os.fspath(status_path), *child],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            close_fds=True,
        )
    except OSError as exc:
        return _not_started(now(), _start_problem(exc, cwd))
    except ValueError as exc:  # a NUL byte, or a name with "=", in what Popen was given
        return _not_started(now(), _value_problem(exc, env, child))
    finally:
        os.close(log_fd)
    _owner_only(status_path)
    return AttemptHandle(popen, job, log_path, status_path, started_at, started_mono, clock)


def run_attempt(
    job: Job,
    env: Mapping[str, str],
    log_path: Path,
    *,
    jobs_folder: Path,
    clock: _Clock | None = None,
) -> AttemptResult:
    """Start one attempt and wait for it (backfill, `trigger --wait`, tests)."""
    started = start_attempt(job, env, log_path, jobs_folder=jobs_folder, clock=clock)
    if isinstance(started, AttemptResult):
        return started
    return started.wait()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _shell_problem(shell: str, env: Mapping[str, str]) -> str | None:
    """Why the job's shell cannot run, or None. A bare name is looked up on the job's PATH."""
    if "/" not in shell:
        if shutil.which(shell, path=env.get("PATH", os.defpath)) is None:
            return f'shell "{shell}" not found on PATH'
        return None
    if os.access(shell, os.X_OK) and not os.path.isdir(shell):
        return None
    if not os.path.exists(shell):
        return f'shell "{shell}" does not exist'
    return f'shell "{shell}" is not executable'


def _remove_stale(status_path: Path) -> None:
    """A status file left by an earlier use of this log path would be read as this
    attempt's outcome if the wrapper is killed before writing its own."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(status_path)


def _owner_only(status_path: Path) -> None:
    """Make the status file 0600 like the rest of the state. The wrapper creates it
    under the umask it must pass on to the job unchanged, so this is done here, after
    Popen (the file's existence means "started"): created now if the wrapper has not
    got to it yet (its `: >` then keeps the mode), else narrowed."""
    with contextlib.suppress(OSError):  # then the wrapper cannot create it either
        fd = os.open(status_path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)


def _open_log(log_path: Path) -> int:
    """Append-only and owner-only: job output can hold secrets."""
    try:
        return os.open(log_path, _LOG_FLAGS, 0o600)
    except FileNotFoundError:
        log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return os.open(log_path, _LOG_FLAGS, 0o600)


def _start_problem(exc: OSError, cwd: str) -> str:
    # Popen names the cwd as the failing file when chdir failed in the child.
    if exc.filename == cwd:
        if isinstance(exc, FileNotFoundError):
            return f'cwd "{cwd}" does not exist'
        if isinstance(exc, NotADirectoryError):
            return f'cwd "{cwd}" is not a directory'
        return f'cannot enter cwd "{cwd}": {exc.strerror}'
    return f'cannot start "{exc.filename}": {exc.strerror}'


def _value_problem(exc: ValueError, env: Mapping[str, str], child: list[str]) -> str:
    for name, value in env.items():
        if "\0" in name or "=" in name:
            return f"cannot start: environment variable name {name!r} is not usable"
        if "\0" in value:
            return f'cannot start: environment variable "{name}" contains a NUL byte'
    if any("\0" in arg for arg in child):
        return "cannot start: the command contains a NUL byte"
    return f"cannot start: {exc}"


def _not_started(at: datetime, reason: str) -> AttemptResult:
    return AttemptResult(status=RunStatus.FAILED, started_at=at, finished_at=at, reason=reason)


def _decode_shell_status(status: int) -> tuple[int | None, str | None]:
    if _SIGNAL_BASE < status <= _SIGNAL_BASE + _MAX_SIGNAL:
        return None, _signal_name(status - _SIGNAL_BASE)
    return status, None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:  # realtime signals other than SIGRTMIN/SIGRTMAX have no enum member
        if signal.SIGRTMIN < number < signal.SIGRTMAX:
            return f"SIGRTMIN+{number - signal.SIGRTMIN}"
        return f"SIG{number}"


def _describe_exit(exit_code: int | None, signal_name: str | None) -> str:
    if signal_name is not None:
        return f"killed by {signal_name}"
    hint = _EXIT_HINTS.get(exit_code) if exit_code is not None else None
    return f"exit code {exit_code}: {hint}" if hint else f"exit code {exit_code}"


def _format(duration: timedelta) -> str:
    """'2s', '0.5s', '1h30m': the way durations are written in jobs.toml."""
    total = duration.total_seconds()
    if total < 60 or total != int(total):
        return f"{total:g}s"
    hours, rest = divmod(int(total), 3600)
    minutes, seconds = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n)
