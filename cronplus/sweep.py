"""A dead daemon's runs, taken over by a live one (issue 17: several daemons on one
PostgreSQL state), and the runs waiting to be resumed, taken up by any live daemon.

A daemon is dead once its heartbeat is older than its lease, as judged by a daemon
connected to the state for a whole lease itself (`job_share.py`): then its unfinished
runs are recorded `interrupted`, the reason naming its host, and its attempt counts
against the job's retries (it may have run to any point, even to its end); they are
resumed by a live daemon after the retry delay while retries remain. Its jobs are
freed for the live daemons to take, and its row in `processes` dropped, each write
conditional so two daemons sweeping at once do it once. A dead `trigger`'s or
`backfill`'s runs are left to its re-run (which settles them); only its row goes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from cronplus.dispatch import Dispatcher
from cronplus.events import log_event
from cronplus.model import (
    AttemptResult,
    Config,
    Job,
    ProcessRecord,
    Run,
    RunEnd,
    RunStatus,
    SeenRun,
)
from cronplus.recovery import runs_to_resume
from cronplus.store import Store

log = logging.getLogger("cronplus")


def sweep_dead(store: Store, dead: ProcessRecord, now: datetime) -> int:
    """Take over what the dead process `dead` left; the runs interrupted. Its row goes
    last, once all the rest is written: a sweep cut short is done again by the next."""
    if dead.kind != "daemon":
        store.forget_process(dead.host, dead.pid, dead.heartbeat_at)
        return 0  # a trigger's or backfill's runs are its re-run's to settle
    log.warning(
        "event=daemon-dead host=%s pid=%d last_heartbeat=%s",
        dead.host,
        dead.pid,
        dead.heartbeat_at.isoformat(),
    )
    freed = store.drop_job_owners(dead.host, dead.pid)
    interrupted = 0
    for run in store.unfinished_runs():
        if store.run_owner(run.id) == (dead.host, dead.pid) and _interrupt(store, run, dead, now):
            interrupted += 1
    if store.forget_process(dead.host, dead.pid, dead.heartbeat_at):
        log.info("event=daemon-swept host=%s runs=%d jobs=%d", dead.host, interrupted, len(freed))
    return interrupted


def _interrupt(store: Store, run: Run, dead: ProcessRecord, now: datetime) -> bool:
    """The dead daemon's `run` recorded interrupted, its attempt counted (it may have
    done its work, or part of it), to be resumed while retries last."""
    why = (
        f'interrupted: the daemon on host "{dead.host}" (pid {dead.pid}) stopped '
        "heartbeating while it ran"
    )
    last = run.last_attempt
    closed = None
    spent = store.spent_attempts(run.id)
    if last is not None and last.finished_at is None:
        closed = (last.number, AttemptResult(RunStatus.INTERRUPTED, last.started_at, now))
        spent += 1
    seen = SeenRun(dead.pid, len(run.attempts))
    end = RunEnd(RunStatus.INTERRUPTED, why, now, last_attempt=closed, resume_spent=spent)
    if not store.settle_run(run.id, seen, end):
        return False
    store.pool_release(run.id)  # its slots and places, held on the dead host
    log_event(run, "interrupted", None, why)
    return True


def resume_due(
    store: Store, config: Config, dispatcher: Dispatcher, now: datetime, owns: Callable[[str], bool]
) -> None:
    """The runs waiting to be resumed (a stopped or dead daemon's), each taken up once
    its retry delay since its end has passed, by a daemon that `owns` its job (a
    scheduled job's owner; any daemon for a job its upstreams start): reopened (one daemon
    wins each) and run behind its job's lane, while its job's retries last. A job
    paused, disabled or gone is not resumed."""

    def later(run: Run, job: Job, spent: int) -> bool:
        if not owns(job.name):
            return True  # a scheduled job's runs are its owner's to resume
        ended = run.finished_at or now
        return bool(spent) and ended + job.retry.delay_before_retry(spent) > now

    for runs in runs_to_resume(store, config, store.paused_jobs(), now, later).values():
        dispatcher.resume(runs)
