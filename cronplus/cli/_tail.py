"""`logs` for an attempt whose log file is not here (issue 17): it ran on another host,
where its file stays, or its file is missing. The state keeps the last 64 KiB of each
ended attempt's output (`Store.attempt_tail`): printed instead, on stdout, with one
line on stderr naming the host it ran on."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from cronplus.cli._group import warn
from cronplus.errors import CronplusError, ExitCode

if TYPE_CHECKING:
    from cronplus.model import Attempt, Run
    from cronplus.store import Store

_KEPT = "this is the last 64 KiB of its output, kept in the state"
_LATER = "the state keeps the last 64 KiB of its output once it ends"


def elsewhere(attempt: Attempt) -> str | None:
    """The host the attempt ran on, when that is not this process's (`CRONPLUS_HOST`);
    None for this host's, and for one recorded before hosts were."""
    from cronplus.procs import host

    return attempt.host if attempt.host is not None and attempt.host != host() else None


def print_attempt_log(store: Store, run_id: int, attempt: Attempt) -> None:
    """The attempt's output: its log file here, else the tail the state keeps. With
    neither, the attempt's log is gone (exit 1)."""
    from cronplus import render

    what, path = f"run {run_id} attempt {attempt.number}", attempt.log or ""
    other = elsewhere(attempt)
    if other is not None and _print_tail(
        store, run_id, attempt, f'{what} ran on host "{other}": its log file is there'
    ):
        return
    try:
        render.print_log(path)  # this host's, or one the hosts share (its tail not kept yet)
        return
    except FileNotFoundError:
        pass
    if other is None:
        if _print_tail(store, run_id, attempt, f"the log file of {what} is missing ({path})"):
            return
        raise CronplusError(f"the log of {what} is gone ({path})")
    if attempt.finished_at is None:
        raise CronplusError(f'{what} is going on host "{other}", its log there ({path}); {_LATER}')
    raise CronplusError(f'the log of {what} is gone ({path}; it ran on host "{other}")')


def follow_elsewhere(store: Store, run: Run) -> int:
    """`logs -f` of a run whose last attempt is on another host: a log there cannot be
    followed from here, so its kept tail (none while it goes) and why (exit 0)."""
    last = run.attempts[-1]
    other = elsewhere(last)
    ran = "ran" if last.finished_at is not None else "is going"
    why = f'run {run.id} attempt {last.number} {ran} on host "{other}": cannot follow a log there'
    if not _print_tail(store, run.id, last, why):
        warn(f"({why}; {_LATER})")
    return ExitCode.OK


def _print_tail(store: Store, run_id: int, attempt: Attempt, why: str) -> bool:
    """The attempt's kept tail on stdout (as UTF-8, whatever the locale's encoding)
    and `why` on stderr; False when the state keeps none."""
    tail = store.attempt_tail(run_id, attempt.number)
    if tail is None:
        return False
    sys.stdout.flush()
    sys.stdout.buffer.write(tail.encode())
    sys.stdout.buffer.flush()
    warn(f"({why}; {_KEPT})")
    return True
