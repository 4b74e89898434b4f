"""Pools (issue 15) in one process's runner, with faults put in its store: slots and
places in line are given back on every path, whatever the state answers."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta

from cronplus import state_health
from cronplus.clock import system_clock
from cronplus.errors import StateError
from cronplus.model import Claim, Run, RunStatus, Trigger
from cronplus.paths import StatePaths
from cronplus.runner import Runner

POOLED = """
    [pools]
    warehouse = 1
    [jobs.a]
    pool = "warehouse"
    command = 'true'
    [jobs.b]
    pool = "warehouse"
    command = 'true'
"""


class Faulty:
    """The store, with some of its methods refusing their first `n` calls."""

    def __init__(self, store, **refusals: int) -> None:
        self._store = store
        self.refusals = dict(refusals)

    def __getattr__(self, name: str):
        method = getattr(self._store, name)
        if name not in self.refusals:
            return method

        def refused(*args, **kwargs):
            if self.refusals[name] > 0:
                self.refusals[name] -= 1
                raise StateError("database or disk is full")
            return method(*args, **kwargs)

        return refused


def runner_on(project, store) -> Runner:
    return Runner(project.config(), store, StatePaths(project.state), system_clock())


def claim(store, job: str, minutes: int = 0) -> Run:
    now = datetime.now(UTC)
    run = store.claim_run(
        job, now + timedelta(minutes=minutes), Trigger.MANUAL, Claim(owner=os.getpid(), now=now)
    )
    assert run is not None
    return run


def execute_soon(runner: Runner, run: Run, timeout: float = 10.0) -> Run | None:
    """The run as `execute` returned it within `timeout` seconds; None if it did not."""
    got: list[Run] = []
    thread = threading.Thread(target=lambda: got.append(runner.execute(run)), daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        runner.stop_all()
        thread.join(10)
        return None
    return got[0]


def test_a_refused_release_is_tried_again_not_left_held_by_a_live_process(project, monkeypatch):
    """A state that refuses the give-back for a moment (a full disk, a lock held too
    long) must not leave the slot held by this process for as long as it lives."""
    monkeypatch.setattr(state_health, "STATE_RETRY_S", 0.2)
    project.write(POOLED)
    store = project.store()
    faulty = Faulty(store, pool_release=1)
    runner = runner_on(project, faulty)
    first = execute_soon(runner, claim(store, "a"))
    assert first is not None and first.status is RunStatus.SUCCEEDED
    second = execute_soon(runner, claim(store, "b"))
    assert second is not None and second.status is RunStatus.SUCCEEDED
    assert store.pool_entries() == ([], [])
