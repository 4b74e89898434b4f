"""One attempt of one job: its own session, output to its log file, timeout -> TERM -> KILL.

The executor never touches the store: an attempt runs without a database, and the
caller records what `AttemptHandle.wait()` returns. The job runs under the wrapper
of `_wrapper` (its outcome survives this process); an attempt's start and end, its
timeout and its kill_grace are read from the caller's `Clock`, the one its run is
recorded on. This module starts an attempt (or adopts one); `_attempt` watches it to
its end (`AttemptHandle`, the name callers use from here).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from cronplus import _logcap, _runas, _wrapper
from cronplus._attempt import AttemptHandle, with_tail
from cronplus.clock import Clock
from cronplus.model import AttemptResult, Job, RunStatus
from cronplus.procs import HOST_ENV, host

_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC


def build_env(
    job: Job,
    *,
    run_id: int,
    attempt: int,
    trigger: str,
    scheduled_for: datetime,
    base_env: Mapping[str, str] | None = None,
    interval: tuple[datetime, datetime] | None = None,
) -> dict[str, str]:
    """The attempt's environment: the base (cronplus's own by default), then the job's
    env, then the run metadata as `CRONPLUS_*` variables (`CRONPLUS_HOST`: the name of
    the process executing it, issue 17).

    Metadata travels only in variables, never pasted into the shell string, so a job
    name or value can never be executed as shell code. Times are in the job's zone
    because that is the calendar its author thinks in. `interval`: the run's data
    interval (`intervals.py`), as CRONPLUS_INTERVAL_START and _END; none, none set.
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
    env[HOST_ENV] = host()  # issue 17: the host its run and attempt are recorded with
    if interval is not None:
        env["CRONPLUS_INTERVAL_START"] = interval[0].astimezone(local.tzinfo).isoformat()
        env["CRONPLUS_INTERVAL_END"] = interval[1].astimezone(local.tzinfo).isoformat()
    else:  # never the interval of a run that started this cronplus (a job's `trigger`)
        env.pop("CRONPLUS_INTERVAL_START", None)
        env.pop("CRONPLUS_INTERVAL_END", None)
    return env


def adopt_attempt(
    job: Job,
    pid: int,
    log_path: Path,
    started_at: datetime,
    *,
    clock: Clock,
) -> AttemptHandle | AttemptResult:
    """Watch an attempt whose wrapper `pid` outlived the cronplus process that started
    it, as if we had started it: `wait()` returns its outcome and enforces the job's
    timeout from `started_at`; `interrupt()` stops its group. If it ended meanwhile,
    its result is returned at once."""
    status_path = _wrapper.status_path_for(log_path)
    elapsed = max(0.0, (clock.now() - started_at).total_seconds())
    proc = _wrapper.SurvivingWrapper(pid)
    started_mono = clock.monotonic() - elapsed
    try:
        return AttemptHandle(proc, job, log_path, status_path, started_at, started_mono, clock)
    except ProcessLookupError:  # it ended between finding it and now
        return ended_attempt(job, log_path, started_at, clock, group=pid)


def ended_attempt(
    job: Job | None, log_path: Path, started_at: datetime, clock: Clock, group: int | None = None
) -> AttemptResult:
    """The result of an attempt that ended while no cronplus watched it, with its log's
    tail, its log capped as a watcher would have left it (once its wrapper's `group`
    is empty; uncapped without its `job`)."""
    if job is not None:
        _logcap.CAPPER.ended(log_path, job.max_log_bytes, group)
    status_path = _wrapper.status_path_for(log_path)
    return with_tail(_wrapper.ended_attempt(status_path, started_at, clock.now()), log_path)


def cut_short(log: str | None, started_at: datetime, at: datetime) -> AttemptResult:
    """An attempt closed `interrupted` at `at` with its outcome unknown (its process
    gone unwatched, or its cronplus failed), with what its log holds."""
    result = AttemptResult(RunStatus.INTERRUPTED, started_at, at)
    return with_tail(result, Path(log)) if log else result


def start_attempt(
    job: Job,
    env: Mapping[str, str],
    log_path: Path,
    *,
    jobs_folder: Path,
    clock: Clock,
    umask: int | None = None,
) -> AttemptHandle | AttemptResult:
    """Start one attempt and return its handle, or a `failed` result if it cannot start.

    "Cannot start" (missing cwd or shell, unwritable log) is a result with a reason,
    never an exception, so the caller records it like any other failure. A command
    that is not found inside the job's shell is the shell's exit 127, reported by
    `wait()`. `log_path`'s folder is created (0700) if missing. Everything not needed
    to start the process is done after Popen, to keep start lateness near a bare Popen.
    `umask`: the job's, when the caller knows it (else this process's, read now).
    A job run as another user (`_runas`) gets a cron-like environment of its own.
    """
    as_user = _runas.target(job.user)
    if isinstance(as_user, str):
        return _not_started(clock.now(), as_user)
    if as_user is None:
        return _start(job, env, log_path, jobs_folder, clock, umask, None)
    shell = _wrapper.SHELL if job.command is None else job.shell
    env = _runas.environ(as_user, env, job.env, shell)
    try:
        switch = _runas.Switch(as_user, env)
    except ValueError as exc:
        return _not_started(clock.now(), _value_problem(exc, env, []))
    except OSError as exc:
        return _not_started(clock.now(), f"cannot start: {exc.strerror}")
    try:
        return _start(job, env, log_path, jobs_folder, clock, umask, switch)
    finally:
        switch.close()


def _start(
    job: Job,
    env: Mapping[str, str],
    log_path: Path,
    jobs_folder: Path,
    clock: Clock,
    umask: int | None,
    switch: _runas.Switch | None,
) -> AttemptHandle | AttemptResult:
    """`start_attempt`'s work; a `switch`ed job's wrapper gets `ROOT_ENV` and the
    switch's fd, through which its shim gets the job's `env`."""
    now = clock.now
    status_path = _wrapper.status_path_for(log_path)
    argv = _wrapper.job_argv(job, env, status_path, jobs_folder, umask, switch)
    if isinstance(argv, str):
        return _not_started(now(), argv)
    cwd = os.fspath(job.cwd)
    try:
        _wrapper.remove_stale(status_path)
        # Nor may a new attempt continue a log left by an earlier use of its name (a
        # pruned run's whose unlink a crash cut short): the log is this attempt's alone.
        _wrapper.remove_stale(log_path)
        log_fd = _open_log(log_path)
    except OSError as exc:
        return _not_started(now(), f'cannot write log "{exc.filename}": {exc.strerror}')
    try:
        stdin = subprocess.DEVNULL if job.stdin is None else _stdin_fd(job.stdin)
    except OSError as exc:
        os.close(log_fd)
        return _not_started(now(), f"cannot hold the job's stdin: {exc.strerror}")
    try:
        started_at = now()
        started_mono = clock.monotonic()
        popen = subprocess.Popen(
            argv,
            start_new_session=True,
            stdin=stdin,
            stdout=log_fd,
            stderr=subprocess.STDOUT,
            env=env if switch is None else _runas.ROOT_ENV,
            cwd=cwd,
            close_fds=True,
            pass_fds=() if switch is None else (switch.fd,),
        )
    except OSError as exc:
        return _not_started(now(), _start_problem(exc, cwd))
    except ValueError as exc:  # a NUL byte, or a name with "=", in what Popen was given
        return _not_started(now(), _value_problem(exc, env, argv))
    finally:
        os.close(log_fd)
        if stdin != subprocess.DEVNULL:
            os.close(stdin)
    if not _wrapper.private_status(argv):
        _wrapper.owner_only(status_path)
    return AttemptHandle(popen, job, log_path, status_path, started_at, started_mono, clock)


def _stdin_fd(text: str) -> int:
    """The job's `stdin` in an unlinked file, at offset 0: the child reads it at its own
    pace and the daemon never blocks on a pipe (cron writes it down a pipe from a child)."""
    import tempfile

    with tempfile.TemporaryFile() as f:
        f.write(text.encode())
        f.flush()
        fd = os.dup(f.fileno())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


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


def _value_problem(exc: ValueError, env: Mapping[str, str], argv: list[str]) -> str:
    for name, value in env.items():
        if "\0" in name or "=" in name:
            return f"cannot start: environment variable name {name!r} is not usable"
        if "\0" in value:
            return f'cannot start: environment variable "{name}" contains a NUL byte'
    if any("\0" in arg for arg in argv):
        return "cannot start: the command contains a NUL byte"
    return f"cannot start: {exc}"


def _not_started(at: datetime, reason: str) -> AttemptResult:
    return AttemptResult(status=RunStatus.FAILED, started_at=at, finished_at=at, reason=reason)
