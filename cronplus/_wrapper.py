"""The wrapper protocol: how an attempt's outcome survives the cronplus process that
started it. Shared by the executor (which starts and watches attempts) and recovery
(which reads what a dead process's attempts left).

Crash survival (issue 3, "Running jobs"): the process the executor starts is a tiny
`/bin/sh` wrapper that runs the job as its child and, when the job ends, writes the
job's exit status to `<log>.status` (`status_path_for`) before exiting with that
status. The wrapper leads its own session, so if the daemon dies the job keeps
running and its outcome still reaches the status file, where `read_status_file`
recovers it. A `/bin/sh` job costs one shell: the wrapper runs the command itself
(`command_argv`); a job with another shell or a Python job costs one more.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from cronplus import _runas
from cronplus.model import AttemptResult, Job, RunStatus
from cronplus.procs import all_pids, cmdline

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
SHELL = "/bin/sh"
SCRIPT = ': >"$0"; trap : TERM INT HUP; "$@"; s=$?; printf "%s\\n" "$s" >"$0"; exit "$s"'
# A `/bin/sh` job's command runs in a subshell of the wrapper, not in a second `sh -c`
# (issue 12: a backfill of quick runs paid an exec of the shell per run). The command
# comes as "$2", never pasted into the script, and `set --` empties "$@" as `sh -c`
# leaves it; $0 is the shell, as it is for `sh -c`, so messages read "/bin/sh: 1: ..."
# (with "eval: " after the line number). A subshell sets trapped signals back to
# their default actions, so TERM reaches the job as it would its own shell, and
# `exit` ends only the subshell. The status path is "$1". The wrapper creates it
# owner-only under umask 077 and gives the job the starter's umask, "$3", back, so
# the starter need not narrow it (`owner_only`): a file create fewer per run, each
# holding its folder's lock, which the runs of one job share. It keeps the file open
# (fd 9, closed in the job's subshell) and writes the status there: no second open
# of it, which would take that lock again (issue 12: each backfill run paid it).
ONE_SHELL = (
    'umask 077; exec 9>"$1"; umask "$3"; trap : TERM INT HUP; '
    '(exec 9>&-; eval "set --;" "$2"); s=$?; printf "%s\\n" "$s" >&9; exit "$s"'
)
# A command that is one simple command of plain words (nothing quoted, expanded,
# redirected or joined) naming no shell builtin but those that only print or do nothing
# runs in the wrapper's shell itself, without the subshell: `eval` in a subshell
# forks once more for an external command (dash execs no command it evals), so the
# subshell cost a process per run (issue 12). Such a command cannot end, replace or
# change the wrapper's shell, and nothing of the job's is left to run after it, so
# TERM reaching only its own process (the wrapper traps it) changes nothing; fd 9
# is closed for it as for the subshell, and "$@" emptied the same way.
SIMPLE = (
    'umask 077; exec 9>"$1"; umask "$3"; trap : TERM INT HUP; '
    'eval "set --;" "$2" 9>&-; s=$?; printf "%s\\n" "$s" >&9; exit "$s"'
)
_PLAIN = re.compile(r"[A-Za-z0-9_./:,@%+=-]+(?:[ \t]+[A-Za-z0-9_./:,@%+=-]+)*")
_PRINT_OR_TEST = frozenset({"true", "false", ":", "echo", "printf", "pwd"})
# Reserved words and the builtins of dash and bash: a command starting with one of
# these (but those above) keeps its subshell.
_SHELL_WORD_LIST = (
    "! { } case do done elif else esac fi for function if in select then time until while"
    " . alias bg bind break builtin caller cd chdir command compgen complete continue"
    " declare dirs disown enable eval exec exit export fc fg getopts hash help history"
    " jobs kill let local logout mapfile popd pushd read readarray readonly return set"
    " shift shopt source suspend test times trap type typeset ulimit umask unalias unset"
    " wait"
)
_SHELL_WORDS = frozenset(_SHELL_WORD_LIST.split())
# The one-shell script before fd 9: a wrapper an older cronplus started is still found.
_ONE_SHELL_BEFORE = (
    'umask 077; : >"$1"; umask "$3"; trap : TERM INT HUP; (eval "set --;" "$2"); s=$?; '
    'printf "%s\\n" "$s" >"$1"; exit "$s"'
)
# Where each script's argv (from "sh", "-c", script) has the status path.
_STATUS_AT = {
    SCRIPT.encode(): 3,
    ONE_SHELL.encode(): 4,
    SIMPLE.encode(): 4,
    _ONE_SHELL_BEFORE.encode(): 4,
}
# What a command could read that a subshell answers differently from its own
# `sh -c`: its pid ($$ is the wrapper's in a subshell) and its parent's. Such a
# command gets its own shell, as before.
_SEES_ITS_PID = re.compile(r"\$\$|\$\{#?\$|PPID")

_EXIT_HINTS = {126: "command not executable", 127: "command not found"}
_SIGNAL_BASE = 128  # the shell reports "killed by signal n" as 128 + n
_MAX_SIGNAL = 64  # SIGRTMAX on Linux


def wrapper_argv(status_path: Path, child: list[str]) -> list[str]:
    """The argv that runs `child` under the wrapper, writing to `status_path`."""
    return [SHELL, "-c", SCRIPT, os.fspath(status_path), *child]


def command_argv(
    status_path: Path, shell: str, command: str, umask: int | None = None
) -> list[str]:
    """The argv that runs a shell job's `command` under the wrapper: in the wrapper's
    own shell when the job's shell is that shell and the command cannot tell. The
    job gets `umask`, else the starter's, read now."""
    if shell == SHELL and _SEES_ITS_PID.search(command) is None:
        mask = f"{current_umask() if umask is None else umask:04o}"
        script = SIMPLE if _simple(command) else ONE_SHELL
        return [SHELL, "-c", script, SHELL, os.fspath(status_path), command, mask]
    return wrapper_argv(status_path, [shell, "-c", command])


def job_argv(
    job: Job,
    env: Mapping[str, str],
    status_path: Path,
    jobs_folder: Path,
    umask: int | None,
    switch: _runas.Switch | None,
) -> list[str] | str:
    """The wrapper's argv for `job`, or why it cannot start. A job run as another
    user runs under the generic wrapper, its own process switching (`switch`)."""
    if job.python is not None:
        if switch is None:
            shim = [sys.executable, "-m", "cronplus._pyjob"]
        else:  # by its path: the job's environment may not find cronplus (no PYTHONPATH)
            shim = [sys.executable, os.fspath(Path(__file__).with_name("_pyjob.py"))]
        child = [*shim, job.python, os.fspath(jobs_folder), job.timezone]
        return wrapper_argv(status_path, child if switch is None else switch.argv(child))
    if job.command is None:
        raise ValueError(f'job "{job.name}" has neither command nor python')
    problem = shell_problem(job.shell, env)
    if problem is not None:
        return problem
    if switch is None:
        return command_argv(status_path, job.shell, job.command, umask)
    return wrapper_argv(status_path, switch.argv([job.shell, "-c", job.command]))


def shell_problem(shell: str, env: Mapping[str, str]) -> str | None:
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


def private_status(argv: list[str]) -> bool:
    """Whether the wrapper `argv` creates its status file owner-only itself."""
    return len(argv) > 2 and argv[2] in (ONE_SHELL, SIMPLE)


def _simple(command: str) -> bool:
    """Whether `command` can run in the wrapper's shell without its subshell (`SIMPLE`)."""
    words = command.split() if _PLAIN.fullmatch(command.strip()) else []
    return (
        bool(words)
        and "=" not in words[0]
        and (words[0] in _PRINT_OR_TEST or words[0] not in _SHELL_WORDS)
    )


def current_umask() -> int:
    """This process's umask, read without setting it (os.umask would change it for
    every thread a moment, and a job started meanwhile would inherit that)."""
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"Umask:"):
                return int(line.split()[1], 8)
    raise OSError("no Umask in /proc/self/status")


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
    return decode_shell_status(status)


class Trace(Enum):
    """What an attempt left behind, read after the process that started it died."""

    NEVER_STARTED = "never started"  # no status file: the wrapper never ran
    STARTED = "started"  # an empty one: started, no status written (yet)
    ENDED = "ended"  # a status: the job's outcome is known


def trace_of(status_path: Path) -> Trace:
    if read_status_file(status_path) is not None:
        return Trace.ENDED
    return Trace.STARTED if status_path.exists() else Trace.NEVER_STARTED


def remove_stale(status_path: Path) -> None:
    """A status file left by an earlier use of this log path would be read as this
    attempt's outcome if the wrapper is killed before writing its own. Looked for
    first: unlink takes its folder's lock even when there is nothing to remove, and
    a new attempt's status path almost never exists."""
    with contextlib.suppress(FileNotFoundError):
        os.lstat(status_path)
        os.unlink(status_path)


def owner_only(status_path: Path) -> None:
    """Make the status file 0600 like the rest of the state. The wrapper creates it
    under the umask it must pass on to the job unchanged, so this is done by the
    starter, after Popen (the file's existence means "started"): created now if the
    wrapper has not got to it yet (its `: >` then keeps the mode), else narrowed."""
    with contextlib.suppress(OSError):  # then the wrapper cannot create it either
        fd = os.open(status_path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)


def find_wrapper(status_path: Path, pid: int | None = None) -> int | None:
    """The pid of the live wrapper running the attempt whose status file is
    `status_path`, or None.

    The wrapper's argv carries the status path, which names one attempt, so a pid
    reused by an unrelated process is never taken for it. `pid` (recorded when the
    attempt started) is tried first; without it, /proc is searched. The wrapper leads
    its own session; the subshell a `/bin/sh` job runs in has the same argv but does
    not, so it is never taken for the wrapper.
    """
    wanted = os.fsencode(status_path)
    for candidate in [pid] if pid is not None else all_pids():
        argv = cmdline(candidate) or []
        at = _STATUS_AT.get(argv[2]) if len(argv) > 2 else None
        if at is not None and len(argv) > at and argv[at] == wanted and _leads(candidate):
            return candidate
    return None


def _leads(pid: int) -> bool:
    """Whether `pid` leads its session, as every wrapper does."""
    try:
        return os.getsid(pid) == pid
    except OSError:
        return False


class SurvivingWrapper:
    """Stands in for the Popen of a wrapper another cronplus process started and
    that outlived it: it is not our child, so it cannot be reaped and its exit
    status is not ours to read (the status file has it)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> None:
        return None


def ended_attempt(status_path: Path, started_at: datetime, at: datetime) -> AttemptResult:
    """The result of an attempt that is over, from what its wrapper wrote: the job's
    status, or `interrupted` when the wrapper died without writing one.

    Its end is `at`, or when the wrapper wrote the status if that can be read (the
    status file's modification time, on the system's wall clock)."""
    recorded = read_status_file(status_path)
    if recorded is None:
        why = "its outcome is unknown: the job's wrapper ended without recording it"
        return AttemptResult(RunStatus.INTERRUPTED, started_at, at, reason=why)
    code, sig = recorded
    with contextlib.suppress(OSError):
        at = datetime.fromtimestamp(status_path.stat().st_mtime, UTC)
    return exited(code, sig, started_at, at)


def exited(
    exit_code: int | None, signal_name: str | None, started_at: datetime, at: datetime
) -> AttemptResult:
    """The result of an attempt whose job ended on its own with this status."""
    ok = exit_code == 0 and signal_name is None
    return AttemptResult(
        status=RunStatus.SUCCEEDED if ok else RunStatus.FAILED,
        started_at=started_at,
        finished_at=at,
        exit_code=exit_code,
        signal=signal_name,
        reason=None if ok else _describe_exit(exit_code, signal_name),
    )


def decode_shell_status(status: int) -> tuple[int | None, str | None]:
    if _SIGNAL_BASE < status <= _SIGNAL_BASE + _MAX_SIGNAL:
        return None, signal_name(status - _SIGNAL_BASE)
    return status, None


def signal_name(number: int) -> str:
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
