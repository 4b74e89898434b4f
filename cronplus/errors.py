"""Errors the user sees, the exit codes they map to, and the did-you-mean helper.

A user mistake never prints a traceback: the library raises a `CronplusError`
subclass, and the cli package turns it into one message on stderr and its `exit_code`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # done; every run reported on succeeded or has not run yet
    NOT_SUCCEEDED = 1  # a run did not succeed; or cronplus itself failed (state locked)
    USAGE = 2  # bad option, jobs.toml, job name or date (click uses 2 too)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a jobs file, located as precisely as we can."""

    file: str  # as the user wrote it
    line: int | None
    job: str | None
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
            if self.column:
                where += f":{self.column}"
        who = f' job "{self.job}":' if self.job else ""
        return f"{where}:{who} {self.message}"


class CronplusError(Exception):
    """Base of every error caused by the user or the environment, not by a bug."""

    exit_code: ExitCode = ExitCode.NOT_SUCCEEDED


class UsageError(CronplusError):
    """A bad option, job name or date on the command line."""

    exit_code = ExitCode.USAGE


class UnknownJobError(UsageError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        super().__init__(f'no job named "{name}"{did_you_mean(name, known)}')


class ConfigError(CronplusError):
    """The jobs file has problems; all of them are listed, one per line."""

    exit_code = ExitCode.USAGE

    def __init__(self, problems: list[Problem], file: str) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.job or "", p.message))
        self.file = file
        n = len(self.problems)
        lines = [str(p) for p in self.problems]
        lines.append(f"{n} problem{'s' if n != 1 else ''} in {file}; nothing was started.")
        super().__init__("\n".join(lines))


class StateError(CronplusError):
    """The state directory or database cannot be used (newer schema, permissions)."""


class StateUnreachableError(StateError):
    """The state database cannot be reached (a PostgreSQL server down, a network cut):
    the environment's trouble, tried again."""


class StateUsageError(StateError):
    """The options name something that cannot be a state (a file as the folder)."""

    exit_code = ExitCode.USAGE


class DaemonRunningError(CronplusError):
    def __init__(self, state: str, pid: int | None) -> None:
        who = f" (pid {pid})" if pid else ""
        super().__init__(f"a cronplus daemon is already running on {state}{who}")


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return ` (did you mean "x"?)` for the closest candidate, or ""."""
    import difflib  # only for a mistake: not on every start

    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""
