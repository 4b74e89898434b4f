"""Pools (`[pools]`, issue 15): a run's attempt waits in its pool's line, takes its
slots, and gives them back at its end, whichever cronplus process runs it.

The line and the slots are rows in the store (`pool_wait`, `pool_take`), so the
limit holds across the daemon, `trigger` and `backfill` at once. A waiting process
asks again at least every `LOOK_S`: slots freed by another process are taken within
a second, and one of its own runs giving slots back wakes its waiters at once. Each
look reads the pool's size from the configuration as it is now, so a reload that
shrinks a pool takes effect for the next slots taken, and a job that no longer
names a pool goes without. While it waits a waiter also frees what gone processes
of this host left in its pool: a waiter's place at once, a holder's slots once the
attempt they were taken for has ended (its job may outlive its cronplus process).
A process is named by its pid, boot id and start ticks (`procs.gone`): a state
outlives a reboot or a container restart, and a pid reused since names another.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from cronplus import _wrapper
from cronplus.clock import Clock
from cronplus.errors import StateError
from cronplus.events import log_event
from cronplus.model import Config, Job, PoolEntry, Run
from cronplus.procs import gone, host, me
from cronplus.run_control import RunControl
from cronplus.store import Store

LOOK_S = 0.5  # a waiter asks for its slots, and looks for gone holders, this often

T = TypeVar("T")
Write = Callable[..., T]  # the runner's `write` for this run: retried while the state fails


# `max_active` (issue 17) is a pool of its own per job, of `max_active` slots, one
# per attempt: the same line, slots, freeing of gone holders and waking, across every
# process on the state. Its name cannot be a [pools] name (no ":" is allowed there),
# and its rows have their own item key (`cap_key`), as the state keys a pool's rows by
# (run, item) and an attempt may hold both its cap's slot and its pool's slots.
CAP_PREFIX = "max_active:"


def cap_key(item: int) -> int:
    """The item key of a run's (-1: -2) or an item's (0: -3, 1: -4...) max_active row."""
    return -item - 3


def item_of(key: int) -> int:
    """The item a pool row is for, its max_active row's too (`cap_key` undone)."""
    return key if key >= -1 else -key - 3


def waiting_reason(pool: str, in_use: int, size: int) -> str:
    if pool.startswith(CAP_PREFIX):
        return f"waiting for max_active ({in_use} of {size} attempts running)"
    return f'waiting for pool "{pool}" ({in_use} of {size} slots in use)'


class _Waiters:
    """This process's runs waiting for a pool, by their place in its line. Slots one of
    its runs frees wake the first of them in that pool, rather than at its next look;
    not all of them: only the first in line can take, and each one woken would take
    the write lock to ask (a backfill's 16 workers: 16 transactions per run ended). A
    waiter that leaves the line (its slots taken, or its place given up) wakes the
    next in turn."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._line: dict[threading.Event, tuple[str, datetime, int, int]] = {}

    @contextlib.contextmanager
    def waiting(self, wake: threading.Event, entry: PoolEntry) -> Iterator[None]:
        self.place(wake, entry)
        try:
            yield
        finally:
            with self._lock:
                pool = self._line.pop(wake)[0]
            self.freed(pool)

    def place(self, wake: threading.Event, entry: PoolEntry) -> None:
        """The waiter's place: its pool (a reload may change it) and its key in line."""
        with self._lock:
            self._line[wake] = (entry.pool, entry.logical_time, entry.run_id, entry.item)

    def freed(self, pool: str | None) -> None:
        """Slots of `pool` (of any pool: None) were freed: its first waiter looks."""
        with self._lock:
            firsts: dict[str, tuple[tuple[str, datetime, int, int], threading.Event]] = {}
            for wake, key in self._line.items():
                if pool is not None and key[0] != pool:
                    continue
                if key[0] not in firsts or key < firsts[key[0]][0]:
                    firsts[key[0]] = (key, wake)
        for _, wake in firsts.values():
            wake.set()


_WAITERS = _Waiters()


class Pools:
    """The pool side of one process's runner."""

    def __init__(
        self, store: Store, clock: Clock, config: Callable[[], Config], write: Write
    ) -> None:
        self.store = store
        self.clock = clock
        self.config = config  # the configuration as it is now (a reload swaps it)
        self._write = write  # the runner's, for giving slots back
        # The runs (their items: index, -1 for none) whose attempts hold slots now: pool.
        self._held: dict[tuple[int, int], str] = {}

    def take(
        self, job: Job, run: Run, number: int, control: RunControl, write: Write, item: int = -1
    ) -> bool:
        """Wait until attempt `number` of `run` (of its `item`, a for_each run's: each
        item has its own place and slots) holds a slot of its job's `max_active`, then
        its pool's slots (at once for what its job does not name); False when the run
        is cut short or stopped first, its places in line given up. Always in that
        order, so no attempt waits for the cap while holding a pool's slots. The
        caller gives the slots back with `release`."""
        if not self._take_one(self._cap, job, run, number, control, write, cap_key(item)):
            return False
        if self._take_one(self._wanted, job, run, number, control, write, item):
            return True
        self.release(run.id, item=item)  # the cap's slot, taken for nothing
        return False

    def _take_one(
        self,
        want: Callable[[str, Job], tuple[str, int, int] | None],
        job: Job,
        run: Run,
        number: int,
        control: RunControl,
        write: Write,
        item: int,
    ) -> bool:
        """`take` for one pool, the one `want` names now (None: none needed)."""
        wanted = want(run.job, job)
        if wanted is None:
            return True
        pool, slots, _ = wanted
        pid, boot_id, start_ticks = me()
        entry = PoolEntry(pool, run.id, run.job, slots, run.scheduled_for, number, host(), pid,
                          self.clock.now(), boot_id, start_ticks, item)  # fmt: skip
        wake = threading.Event()
        taken, shown = False, None
        # The place is given up (`finally`) before the next waiter is woken (`waiting`).
        with _WAITERS.waiting(wake, entry), control.waking(wake):
            try:
                write(self.store.pool_wait, entry)
                while not control.is_cut:
                    wanted = want(run.job, job)
                    if wanted is None:
                        return True  # the place is given up below
                    if wanted[:2] != (entry.pool, entry.slots):
                        entry = replace(entry, pool=wanted[0], slots=wanted[1])
                        write(self.store.pool_wait, entry)
                        _WAITERS.place(wake, entry)
                    taken, in_use = write(
                        self.store.pool_take, run.id, wanted[2], self.clock.now(), item
                    )
                    control.stuck = False  # the state took it: waiting for the pool, not for it
                    if taken:
                        self._held[run.id, item] = entry.pool
                        return True
                    if shown != (in_use, wanted[2]):
                        shown = (in_use, wanted[2])
                        why = waiting_reason(entry.pool, *shown)
                        write(self.store.pool_wait, entry, reason=why)
                        log_event(run, "pool-wait", number, why)
                    if not self._free_gone(entry.pool):
                        wake.wait(LOOK_S)
                        wake.clear()
                return False
            finally:
                if not taken:
                    self._give_back(run.id, item)

    def release(self, run_id: int, *, adopted: bool = False, item: int = -1) -> None:
        """The run's (its `item`'s) attempt ended: its slots go back (those `take` took,
        or with `adopted` those recovery moved to this process, all of the run's unless
        an `item` is named), its `max_active` slot with them, and this process's first
        waiter in each of those pools (any pool, for adopted ones) looks at once."""
        keys = [(run_id, item), (run_id, cap_key(item))]
        held = [key for key in keys if key in self._held]
        if not held and not adopted:
            return
        pools = [self._held.pop(key) for key in held]
        if item < 0:  # a run without items has no rows but these two: one write
            self._give_back(run_id, None)
        else:
            for key in keys if adopted else held:
                self._give_back(*key)
        for pool in pools or [None]:
            _WAITERS.freed(pool)

    def _give_back(self, run_id: int, item: int | None) -> None:
        """Free the run's (item's; None: all its) slots or place in line. A state
        refusing it is asked again until it accepts (a live process's rows are nobody
        else's to free); only a stop gives up, the process then gone soon, its rows
        freed by the others."""
        with contextlib.suppress(StateError):
            self._write(self.store.pool_release, run_id, item)

    def _wanted(self, name: str, job: Job) -> tuple[str, int, int] | None:
        """(pool, slots, size) the job needs now, from the configuration as it is now
        (`job`, the one it was started as, if a reload removed it)."""
        config = self.config()
        current = config.jobs.get(name, job)
        size = config.pools.get(current.pool) if current.pool is not None else None
        if current.pool is None or size is None:
            return None
        return current.pool, min(current.pool_slots, size), size

    def _cap(self, name: str, job: Job) -> tuple[str, int, int] | None:
        """(its implicit pool, 1 slot, max_active) when the job (as `_wanted` finds it)
        has a `max_active` now."""
        cap = self.config().jobs.get(name, job).max_active
        return None if cap is None else (f"{CAP_PREFIX}{name}", 1, cap)

    def _free_gone(self, pool: str) -> bool:
        """Free what gone cronplus processes of this host left in `pool`: a waiter's
        place, a holder's slots once the attempt they were taken for has ended. True
        when something was freed (then the waiter asks again at once)."""
        freed = False
        try:
            holders, line = self.store.pool_entries([pool])
            for entry, holds in [(e, False) for e in line] + [(e, True) for e in holders]:
                process = entry.pid, entry.boot_id, entry.start_ticks
                if process == me() or not gone(entry.host, *process):
                    continue
                going = attempt_going(self.store, entry.run_id, entry.attempt, item_of(entry.item))
                if holds and going:
                    continue
                if self.store.pool_drop(entry.run_id, *process, item=entry.item):
                    freed = True
        except StateError:
            return False
        return freed


def attempt_going(store: Store, run_id: int, number: int, item: int = -1) -> bool:
    """Whether attempt `number` of the run (of its `item`) is still going: its wrapper
    is alive (read as recovery reads it, so a reused pid is never taken for it)."""
    if item >= 0:  # a for_each item's (issue 16): it may outlive its run's end
        return item_attempt_going(store, run_id, number, item)
    run = store.get_run(run_id)
    if run is None or run.status.is_final:
        return False
    attempt = next((a for a in run.attempts if a.number == number), None)
    if attempt is None or attempt.finished_at is not None or not attempt.log:
        return False  # never begun, or its end is recorded
    status_path = _wrapper.status_path_for(Path(attempt.log))
    return _wrapper.find_wrapper(status_path, attempt.pid) is not None


def item_attempt_going(
    store: Store, run_id: int, number: int | None = None, index: int | None = None
) -> bool:
    """Whether an attempt (`number`, else any) of an item (`index`, else any) of the
    for_each run is still going, its end unrecorded and its wrapper alive: its pool
    slots are still held, even once its run was recorded interrupted by a crash's
    recovery."""
    for item in store.items_of([run_id]).get(run_id, ()):
        last = item.attempts[-1] if item.attempts else None
        if last is None or last.finished_at is not None or not last.log:
            continue
        if (number is not None and last.number != number) or index not in (None, item.index):
            continue
        if _wrapper.find_wrapper(_wrapper.status_path_for(Path(last.log)), None) is not None:
            return True
    return False
