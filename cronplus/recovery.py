"""Settling runs left `queued`/`running` by a cronplus process that is gone.

The attempt's wrapper shell writes the job's exit status beside its log even
when the process that started it died, so the outcome is often still known, and
a job that outlived its daemon is still running and can be watched to its end.

`take_over` is what the daemon does at start: it adopts the attempts still going
and the ones that ended unrecorded, and marks the previous daemon's other
unfinished runs to be resumed. `settle_orphan` is what `backfill` does to a run
it meets in its range: record what can be known, never execute.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path

from cronplus import _wrapper, executor, procs
from cronplus.clock import Clock
from cronplus.events import log_event
from cronplus.leases import here, owner_live
from cronplus.model import (
    Attempt,
    AttemptResult,
    Claim,
    Config,
    Job,
    Run,
    RunEnd,
    RunStatus,
    SeenRun,
    Trigger,
)
from cronplus.pools import host, item_attempt_going
from cronplus.procs import alive
from cronplus.store import Store


class SettleResult(Enum):
    LIVE = "live"  # somebody alive is executing it: leave it be
    SETTLED = "settled"  # its outcome is now recorded
    CHANGED = "changed"  # another process settled, reopened or ran it meanwhile


@dataclass(frozen=True)
class Adopted:
    """An orphaned run this process now owns: its last attempt is still going
    (`handle`) or ended unrecorded (its result); `spent` attempts count against the
    job's retries before it."""

    run: Run
    handle: executor.AttemptHandle | AttemptResult
    spent: int
    ours: bool  # the dead daemon's: retried and followed by its dependents; else only watched


def take_over(
    store: Store, config: Config, clock: Clock, previous_daemon: int | None
) -> list[Adopted]:
    """The daemon's start: every unfinished run whose cronplus process is gone.

    An attempt whose job is still running, or ended while nobody watched, is
    adopted: the daemon records its end, then retries or releases dependents as if
    it had started it. The previous daemon's other runs (queued, waiting for a
    retry, or cut short with an unknown outcome) are recorded `interrupted` and
    marked to be resumed. Runs of a dead `trigger` or `backfill` are settled.
    """
    adopted: list[Adopted] = []
    me = os.getpid()
    for run in store.unfinished_runs():
        owner_host, owner = store.run_owner(run.id)
        if not here(store, owner_host):
            continue  # another host's: judged by its heartbeat (sweep.py), not a pid here
        # The previous daemon is gone whatever its pid says now: this one holds the lock.
        daemons = (me, previous_daemon)
        if owner is not None and owner not in daemons and alive(owner):
            continue  # a live trigger or backfill
        ours = owner is None or owner in daemons or _scheduled(run)
        job = config.jobs.get(run.job)
        attempt = _unfinished_attempt(run)
        if attempt is not None and job is not None:
            status_path = _wrapper.status_path_for(Path(attempt.log or ""))
            pid = _wrapper.find_wrapper(status_path, attempt.pid)
            if pid is not None or _wrapper.trace_of(status_path) is _wrapper.Trace.ENDED:
                if not store.adopt_run(run.id, SeenRun(owner, len(run.attempts)), owner=me):
                    continue
                store.pool_adopt(run.id, host(), *procs.me())  # released when the attempt ends
                handle: executor.AttemptHandle | AttemptResult
                if pid is not None:
                    handle = executor.adopt_attempt(
                        job, pid, Path(attempt.log or ""), attempt.started_at, clock=clock
                    )
                else:
                    log = Path(attempt.log or "")
                    handle = executor.ended_attempt(
                        job, log, attempt.started_at, clock, attempt.pid
                    )
                log_event(run, "adopted", attempt.number, f"pid {pid}" if pid else "ended")
                # A trigger's or backfill's run is watched to its end, not retried.
                spent = store.spent_attempts(run.id) if ours else job.retry.retries
                adopted.append(Adopted(run, handle, spent, ours))
                continue
        if ours and job is not None:
            _interrupt_to_resume(store, run, owner, attempt, clock)
        else:
            settle_orphan(store, run, clock, job)
    return adopted


def _scheduled(run: Run) -> bool:
    """Only a daemon runs a run of these triggers (unless a backfill took it over)."""
    daemon_triggers = (Trigger.SCHEDULE, Trigger.CATCHUP)
    last = run.last_attempt
    return run.trigger in daemon_triggers and (
        last is None or last.trigger is None or last.trigger in daemon_triggers
    )


def _unfinished_attempt(run: Run) -> Attempt | None:
    attempt = run.last_attempt
    if attempt is None or attempt.finished_at is not None or not attempt.log:
        return None  # queued, or waiting for its next retry: nothing is running
    return attempt


def _interrupt_to_resume(
    store: Store, run: Run, owner: int | None, attempt: Attempt | None, clock: Clock
) -> None:
    """Record a run of the dead daemon `interrupted` and mark it to be resumed. An
    attempt it cut short does not count against the retries; one it recorded but
    never started is dropped."""
    now = clock.now()
    spent = store.spent_attempts(run.id)  # ended ones; the one cut short does not count
    last: tuple[int, AttemptResult] | None = None
    never_started = False
    why = "interrupted: the daemon stopped before the run started"
    if attempt is not None:
        status_path = _wrapper.status_path_for(Path(attempt.log or ""))
        if _wrapper.trace_of(status_path) is _wrapper.Trace.NEVER_STARTED:
            never_started = True
            why = "interrupted: the daemon stopped before the attempt started"
        else:
            why = "interrupted: the job ended while no cronplus watched, its outcome unknown"
            last = (attempt.number, executor.cut_short(attempt.log, attempt.started_at, now))
    elif run.attempts:
        why = "interrupted: the daemon stopped while the run waited for a retry"
    seen = SeenRun(owner, len(run.attempts))
    end = RunEnd(RunStatus.INTERRUPTED, why, now, last_attempt=last, resume_spent=spent)
    if store.settle_run(run.id, seen, end, drop_last_attempt=never_started):
        _pool_release(store, run.id)  # its place in a pool's line; taken again on resume
        log_event(run, "interrupted", None, why)


def settle_orphan(store: Store, run: Run, clock: Clock, job: Job | None = None) -> SettleResult:
    """Record the outcome of `run` if nobody alive is executing it.

    Somebody is a live cronplus process (the daemon, `trigger`, `backfill`), or the
    job's own process, which outlived its cronplus and is recorded when it ends (by
    the daemon, which adopts it at start). The write is conditional on the run being
    as read here, so two processes settling the same orphan (two backfills waiting
    on it) cannot overwrite each other. An attempt left open is closed; one that
    ended has its log capped as `job` says (uncapped without the job).
    """
    owner_host, owner = store.run_owner(run.id)
    if here(store, owner_host):
        if owner is not None and owner != os.getpid() and alive(owner):
            return SettleResult.LIVE
    elif owner_live(store, owner_host, owner):
        return SettleResult.LIVE
    attempt = run.last_attempt
    seen = SeenRun(owner, len(run.attempts))
    local = attempt is not None and here(store, attempt.host)  # its wrapper and files are here
    if local and attempt.log and attempt.finished_at is None:
        status_file = _wrapper.status_path_for(Path(attempt.log))
        if _wrapper.find_wrapper(status_file, attempt.pid) is not None:
            return SettleResult.LIVE
        if _wrapper.trace_of(status_file) is _wrapper.Trace.ENDED:
            result = executor.ended_attempt(
                job, Path(attempt.log), attempt.started_at, clock, attempt.pid
            )
            last = (attempt.number, result)
            end = RunEnd(result.status, result.reason, result.finished_at, last_attempt=last)
            if not store.settle_run(run.id, seen, end):
                return SettleResult.CHANGED
            store.pool_release(run.id)
            log_event(run, "recovered", attempt.number, result.reason or "succeeded")
            return SettleResult.SETTLED
    owner_txt = f" (pid {owner})" if owner else ""
    why = f"the cronplus process running it{owner_txt} stopped before it finished"
    now, closed = clock.now(), None
    if attempt is not None and attempt.finished_at is None:  # closed, as the run is
        closed = (attempt.number, executor.cut_short(attempt.log, attempt.started_at, now))
    end = RunEnd(RunStatus.INTERRUPTED, why, now, last_attempt=closed)
    if not store.settle_run(run.id, seen, end):
        return SettleResult.CHANGED
    _pool_release(store, run.id)  # a settled run's pool slots or place in line are free
    log_event(run, "interrupted", None, why)
    return SettleResult.SETTLED


def runs_to_resume(
    store: Store,
    config: Config,
    paused: Mapping[str, object],
    now: datetime,
    later: Callable[[Run, Job, int], bool] = lambda run, job, spent: False,
) -> dict[str, list[tuple[Run, int]]]:
    """At a daemon's start: the runs a stop or crash cut short, reopened to run again
    while their job's retries last (each with the attempts it spent; one cut short
    does not count), by job, oldest first. A job paused, disabled or gone since is
    not resumed, and neither is a run someone ran meanwhile. `later`: a run left
    waiting for now (another daemon's, or its retry delay not over: `sweep.py`)."""
    by_job: dict[str, list[tuple[Run, int]]] = {}
    for run_id, spent in store.resumable():
        run = store.get_run(run_id)
        job = config.jobs.get(run.job) if run is not None else None
        if job is None or not job.enabled or job.name in paused or spent > job.retry.retries:
            store.drop_resume(run_id)
            continue
        if later(run, job, spent):  # type: ignore[arg-type]
            continue
        again = store.reopen_run(run_id, [RunStatus.INTERRUPTED], Claim(owner=os.getpid(), now=now))
        if again is None:
            store.drop_resume(run_id)  # someone ran it meanwhile
            continue
        log_event(again, "resumed", None, f"{spent} attempts spent")
        by_job.setdefault(job.name, []).append((again, spent))
    for runs in by_job.values():
        runs.sort(key=lambda rs: rs[0].scheduled_for)
    return by_job


def releases_left(store: Store) -> list[Run]:
    """At a daemon's start: the finished runs whose dependents a crash may not have
    started (or blocked) yet; a mark on a run that is not finished is dropped."""
    runs = []
    for run_id in store.unreleased():
        run = store.get_run(run_id)
        if run is not None and run.status.is_final:
            runs.append(run)
        else:
            store.mark_released(run_id)
    return runs


def _pool_release(store: Store, run_id: int) -> None:
    """Free the settled run's pool slots, but not those an item attempt of it still
    going holds (issue 16): they are freed once it ends (`pools.attempt_going`)."""
    if not item_attempt_going(store, run_id):
        store.pool_release(run_id)
