"""Pools (issue 15) in one process's runner, with faults put in its store: slots and
places in line are given back on every path, whatever the state answers."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from datetime import UTC, datetime, timedelta

from conftest import wait_until

from cronplus import pools, state_health
from cronplus.clock import system_clock
from cronplus.errors import StateError
from cronplus.model import Claim, PoolEntry, Run, RunStatus, Trigger
from cronplus.paths import StatePaths
from cronplus.run_control import RunControl
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


class Slow(Faulty):
    """The store, with one of its methods answering late."""

    def __init__(self, store, slow: str) -> None:
        super().__init__(store)
        self.slow = slow

    def __getattr__(self, name: str):
        method = getattr(self._store, name)
        if name != self.slow:
            return method

        def late(*args, **kwargs):
            time.sleep(0.3)
            return method(*args, **kwargs)

        return late


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


def test_slots_freed_wake_the_first_waiter_of_that_pool_only():
    """Only the first in line can take: waking every waiter of the process cost a
    write transaction each per run ended (a backfill's workers, a daemon's runs)."""
    t = datetime(2026, 12, 5, tzinfo=UTC)
    waiters = pools._Waiters()
    places = {
        "second": PoolEntry("p", 3, "j", 1, t + timedelta(minutes=1), 1, "h", 1, t),
        "first": PoolEntry("p", 9, "j", 1, t, 1, "h", 1, t),
        "other": PoolEntry("q", 1, "j", 1, t, 1, "h", 1, t),
    }
    wakes = {name: threading.Event() for name in places}
    with contextlib.ExitStack() as stack:
        for name, entry in places.items():
            stack.enter_context(waiters.waiting(wakes[name], entry))
        waiters.freed("p")
        assert {n for n, w in wakes.items() if w.is_set()} == {"first"}
        wakes["first"].clear()
        waiters.freed(None)  # adopted slots: of a pool not known
        assert {n for n, w in wakes.items() if w.is_set()} == {"first", "other"}
        for wake in wakes.values():
            wake.clear()
    # Leaving the line, each woke the next of its pool in turn.
    assert wakes["second"].is_set()


def test_a_run_waiting_for_its_pool_after_a_state_outage_is_no_longer_stuck(project, monkeypatch):
    """Once the state takes its writes again the run waits for its pool, not for the
    state: a fire time its overlap skips meanwhile says the run was still going, not
    that the state could not be written."""
    monkeypatch.setattr(state_health, "STATE_RETRY_S", 0.2)
    project.write(POOLED)
    store = project.store()
    hold = claim(store, "a")
    now = datetime.now(UTC)
    store.pool_wait(PoolEntry("warehouse", hold.id, "a", 1, now, 1, "h", os.getpid(), now))
    assert store.pool_take(hold.id, 1, now) == (True, 1)
    runner = runner_on(project, Faulty(store, pool_take=1))
    run, control = claim(store, "b"), RunControl(0)
    thread = threading.Thread(target=runner.execute, args=(run,), kwargs={"control": control})
    thread.start()
    try:
        wait_until(lambda: (store.get_run(run.id).reason or "").startswith("waiting for pool"))
        assert not control.stuck
    finally:
        runner.stop_all()
        thread.join(10)


def test_a_waiter_leaving_the_head_of_the_line_lets_the_next_take_at_once(project, monkeypatch):
    """A 2-slot run first in line, one slot free: the 1-slot run behind it waits. The
    first replaced, the next takes the free slot at once, not at its next look."""
    monkeypatch.setattr(pools, "LOOK_S", 30.0)
    project.write("""
        [pools]
        warehouse = 2
        [jobs.a]
        pool = "warehouse"
        pool_slots = 2
        command = 'true'
        [jobs.b]
        pool = "warehouse"
        command = 'true'
    """)
    store = project.store()
    hold = claim(store, "a", minutes=-2)  # a holder that is not this runner's
    now = datetime.now(UTC)
    store.pool_wait(PoolEntry("warehouse", hold.id, "a", 1, now, 1, "h", os.getpid(), now))
    assert store.pool_take(hold.id, 2, now) == (True, 1)
    runner = runner_on(project, Slow(store, "pool_release"))  # the race, made sure
    first, control = claim(store, "a", minutes=-1), RunControl(0)
    second = claim(store, "b")
    threads = [
        threading.Thread(target=runner.execute, args=(first,), kwargs={"control": control}),
        threading.Thread(target=runner.execute, args=(second,)),
    ]
    threads[0].start()
    wait_until(lambda: store.get_run(first.id).reason)
    threads[1].start()
    try:
        wait_until(lambda: store.get_run(second.id).reason)
        control.cut_short("interrupted: replaced")
        wait_until(lambda: store.get_run(second.id).status is RunStatus.SUCCEEDED, timeout=5)
    finally:
        runner.stop_all()
        for thread in threads:
            thread.join(10)
