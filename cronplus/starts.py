"""The runs due at one instant, started together: their first attempts recorded in
one transaction, then their processes started back to back, before any of their
threads exists.

Issue 12, a busy daemon: with 1,000 jobs spread over the minute about 17 are due
each second, and each paid its own commits and the start of its thread before its
process started, the last of them waiting for all the others. What is recorded,
and in which order, does not change: each run is claimed first (by the caller,
`Store.claim_many`), and each attempt is recorded begun before its process exists,
so a daemon killed at any point leaves what recovery knows how to settle (a begun
attempt whose status file does not exist never started, and its run is resumed).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from cronplus.errors import StateError
from cronplus.events import log_event
from cronplus.executor import AttemptHandle
from cronplus.model import Attempt, AttemptResult, Job, Run, RunStatus
from cronplus.runner import Runner


def start_first_attempts(
    runner: Runner, runs: Sequence[Run]
) -> list[tuple[Run, AttemptHandle | AttemptResult | None, Job | None]]:
    """Begin and start the first attempt of each run of `runs`, freshly claimed, that
    a slot is free for (`SlotPool.try_take`) while no stop is asked, and whose job
    names no pool (its slots are taken in its own thread, `pools.py`): each as recorded
    (its attempt begun), with its attempt's handle, or the failed result of one that
    could not start, holding its slot. The others come back as they were, with
    None: their own thread starts them as usual, waiting for a slot or, when the
    state refused the attempts' write, for the state. With each started one, the job
    as it was started (a reload before its thread runs changes nothing of it)."""
    begun = runner.clock.now()
    ready: list[tuple[Run, Job, Attempt]] = []
    for run in runs:
        job = runner.config.jobs.get(run.job)
        if (
            job is None
            or job.pool is not None
            or job.max_active is not None  # its cap's slot too (issue 17)
            or job.for_each
            or run.attempts
            or runner.stop.is_set()
        ):
            continue  # a pooled run waits for its pool's slots in its own thread
        if not runner.slots.try_take():
            continue
        log = str(runner.paths.attempt_log(run.job, run.id, 1))
        ready.append((run, job, Attempt(1, begun, log=log, trigger=run.trigger)))
    if not ready:
        return [(run, None, None) for run in runs]
    try:
        runner.store.begin_attempts([(run.id, a) for run, _, a in ready], owner=os.getpid())
    except StateError:
        for _ in ready:
            runner.slots.put_back()
        return [(run, None, None) for run in runs]
    started: dict[int, tuple[Run, AttemptHandle | AttemptResult, Job]] = {}
    folder, spawn = runner.config.folder, runner.spawner.spawn
    for run, job, attempt in ready:
        log_path = Path(attempt.log or "")
        handle = spawn(folder, job, run, 1, run.trigger, log_path, begun, announce=False)
        going = replace(run, status=RunStatus.RUNNING, started_at=begun, attempts=(attempt,))
        started[run.id] = (going, handle, job)
    for going, handle, _ in started.values():  # logged once all have started, in order
        if not isinstance(handle, AttemptResult):
            log_event(going, "start", 1)
    return [started.get(run.id, (run, None, None)) for run in runs]
