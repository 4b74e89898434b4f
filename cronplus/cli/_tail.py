"""`logs` for an attempt whose log file is not here (issue 17): it ran on another host,
where its file stays, or its file is missing. The state keeps the last 64 KiB of each
ended attempt's output (`Store.attempt_tail`): printed instead, on stdout, with one
line on stderr naming the host it ran on."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from cronplus.cli._group import warn
from cronplus.errors import CronplusError, ExitCode
from cronplus.model import RunStatus

if TYPE_CHECKING:
    from collections.abc import Callable

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


def follow_elsewhere(store: Store, run: Run, stopped: Callable[[], bool]) -> int | None:
    """`logs -f` of a run whose last attempt is on another host: a log there cannot be
    followed from here, so the run's end is waited for (`stopped`, asked each second:
    Ctrl-C, None), then its last attempt's output printed as `logs` prints it (the
    tail the state keeps), and the answer is -f's: 0 if it succeeded, else 1."""
    if not run.status.is_final:
        last = run.attempts[-1]
        warn(
            f'(run {run.id} attempt {last.number} is going on host "{elsewhere(last)}": its'
            " log cannot be followed from here; its output is printed when the run ends)"
        )
    while not run.status.is_final:
        if stopped():
            return None
        run = store.get_run(run.id) or run
    if run.attempts:
        try:
            print_attempt_log(store, run.id, run.attempts[-1])
        except CronplusError as e:
            warn(f"({e})")
    return ExitCode.OK if run.status is RunStatus.SUCCEEDED else ExitCode.NOT_SUCCEEDED


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
