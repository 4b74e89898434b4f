"""Settling runs left `queued`/`running` by a cronplus process that is gone.

The attempt's wrapper shell writes the job's exit status beside its log even
when the process that started it died, so the outcome is often still known.
The daemon settles every such run when it starts; `backfill` settles one it
meets in its range.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from cronplus import executor
from cronplus.clock import Clock
from cronplus.dispatch import log_event
from cronplus.model import AttemptResult, Run, RunStatus
from cronplus.store import Store


class SettleResult(Enum):
    LIVE = "live"  # somebody alive is executing it: leave it be
    SETTLED = "settled"  # its outcome is now recorded
    CHANGED = "changed"  # another process settled, reopened or ran it meanwhile


def recover_unfinished(store: Store, clock: Clock) -> None:
    """Settle every unfinished run whose cronplus process is gone."""
    for run in store.unfinished_runs():
        settle_orphan(store, run, clock)


def settle_orphan(store: Store, run: Run, clock: Clock) -> SettleResult:
    """Record the outcome of `run` if nobody alive is executing it.

    Somebody is a live cronplus process (the daemon, `trigger`, `backfill`), or the
    job's own process, which outlived its daemon and is recorded when it ends. The
    write is conditional on the run being as read here, so two processes settling
    the same orphan (two backfills waiting on it) cannot overwrite each other.
    """
    owner = store.owner_of(run.id)
    if owner is not None and owner != os.getpid() and alive(owner):
        return SettleResult.LIVE
    attempt = run.last_attempt
    expected = {"owner": owner, "attempts": len(run.attempts)}
    if attempt is not None and attempt.log:
        status_file = executor.status_path_for(Path(attempt.log))
        status = executor.read_status_file(status_file)
        if status is None and attempt.pid is not None and alive(attempt.pid):
            return SettleResult.LIVE
        if status is not None:
            code, sig = status
            ok = code == 0 and sig is None
            reason = None
            if not ok:
                reason = f"exit code {code}" if sig is None else f"killed by {sig}"
            ended = datetime.fromtimestamp(status_file.stat().st_mtime, UTC)
            final = RunStatus.SUCCEEDED if ok else RunStatus.FAILED
            result = AttemptResult(final, attempt.started_at, ended, code, sig, reason)
            if not store.settle_run(
                run.id,
                **expected,
                status=final,
                reason=reason,
                finished_at=ended,
                last_attempt=(attempt.number, result),
            ):
                return SettleResult.CHANGED
            log_event(run, "recovered", attempt.number, reason or "succeeded")
            return SettleResult.SETTLED
    owner_txt = f" (pid {owner})" if owner else ""
    why = f"the cronplus process running it{owner_txt} stopped before it finished"
    if not store.settle_run(
        run.id, **expected, status=RunStatus.INTERRUPTED, reason=why, finished_at=clock.now()
    ):
        return SettleResult.CHANGED
    log_event(run, "interrupted", None, why)
    return SettleResult.SETTLED


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
