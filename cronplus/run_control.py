"""What stops or holds a run from outside its thread: its `RunControl` (cut it short,
or stop it; is it stuck on the state), the `SlotPool` its attempts queue for, and
the stop signals of a command that runs jobs in the foreground."""

from __future__ import annotations

import contextlib
import heapq
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from cronplus.clock import Clock
from cronplus.executor import AttemptHandle

STOPPED_REASON = "interrupted: cronplus stopped while the run was going"
# How long the main thread of a command with stop signals waits at a time. Python runs
# a signal's handler in the main thread, between bytecodes: one the kernel handed to
# another thread, or caught just before the main thread blocked, waited for the block
# to end (with none, for the jobs to end: a Ctrl-C lost under load, issue 14).
SIGNAL_LOOK_S = 0.2


class RunControl:
    """One run's control, from the moment it is handed to a thread to its end: a newer
    run may cut it short (overlap = replace), the stop stops it, whether it is
    waiting for a retry, for a slot, or in an attempt."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.stuck = False  # its state write waits for the state (disk full?)
        self._lock = threading.Lock()
        self._cut = threading.Event()
        self._reason: str | None = None  # why a newer run cut it short
        self._handle: AttemptHandle | None = None
        self._wakers: set[threading.Event] = set()  # set when it is cut short or stopped

    def cut_short(self, reason: str) -> None:
        """A newer run replaces it: its attempt is interrupted with `reason`, or it
        ends so before its next attempt."""
        with self._lock:
            self._reason = reason
            self._cut.set()  # also ends a wait for its next retry
            handle = self._handle
            self._wake()
        if handle is not None:
            handle.interrupt(reason)

    def stop(self) -> None:
        """cronplus stops: its attempt is interrupted, its retry wait ends."""
        with self._lock:
            self._cut.set()
            handle = self._handle
            self._wake()
        if handle is not None:
            handle.interrupt(STOPPED_REASON)

    @property
    def is_cut(self) -> bool:
        return self._cut.is_set()

    @property
    def reason(self) -> str | None:
        with self._lock:
            return self._reason

    def mark_stuck(self) -> None:
        self.stuck = True

    def wait(self, seconds: float, clock: Clock) -> bool:
        """Wait up to `seconds` on `clock`; True if the run was cut short or stopped
        meanwhile."""
        return clock.wait(self._cut, seconds)

    @contextlib.contextmanager
    def waking(self, wake: threading.Event) -> Iterator[None]:
        """While a block waits on `wake` (a pool's line): cutting the run short or
        stopping it sets it."""
        with self._lock:
            self._wakers.add(wake)
            if self._cut.is_set():
                wake.set()
        try:
            yield
        finally:
            with self._lock:
                self._wakers.discard(wake)

    def _wake(self) -> None:
        for wake in self._wakers:
            wake.set()

    @contextlib.contextmanager
    def watching(self, handle: AttemptHandle, stop: threading.Event) -> Iterator[None]:
        """While an attempt goes: cutting the run short interrupts it. One cut short (or
        a stop) while it was being started, before there was a handle, stops it now."""
        with self._lock:
            self._handle = handle
            cut = self._reason if self._cut.is_set() else None
        if stop.is_set():
            handle.interrupt(STOPPED_REASON)
        elif cut is not None:
            handle.interrupt(cut)
        try:
            yield
        finally:
            with self._lock:
                self._handle = None


class SlotPool:
    """At most `size` attempts at once; waiting runs get a slot oldest logical time first.
    With no size, as many as ask (a backfill's workers are its limit)."""

    def __init__(self, size: int | None) -> None:
        self._size = size
        self._free = size or 0
        self._waiting: list[tuple[datetime, int]] = []
        self._cond = threading.Condition()

    def take(self, key: tuple[datetime, int], stop: threading.Event) -> bool:
        """Wait for a slot; False if `stop` is set first."""
        if self._size is None:
            return self._unlimited()
        with self._cond:
            heapq.heappush(self._waiting, key)
            while not (self._free > 0 and self._waiting[0] == key):
                if stop.is_set():
                    self._waiting.remove(key)
                    heapq.heapify(self._waiting)
                    self._cond.notify_all()
                    return False
                self._cond.wait()
            heapq.heappop(self._waiting)
            self._free -= 1
            self._cond.notify_all()
            return True

    def try_take(self) -> bool:
        """A slot now, if one is free and no run waits for one (those go first)."""
        if self._size is None:
            return self._unlimited()
        with self._cond:
            if self._free > 0 and not self._waiting:
                self._free -= 1
                return True
            return False

    def put_back(self) -> None:
        with self._cond:
            self._free += 1
            if self._size is not None:
                self._cond.notify_all()

    def _unlimited(self) -> bool:
        with self._cond:
            self._free -= 1  # below 0: no limit, but `in_use` counts it
        return True

    @property
    def in_use(self) -> int:
        """Slots taken: the attempts of this process going now (its heartbeat's
        `running`, issue 17), an attempt adopted from a dead process aside."""
        with self._cond:
            return (self._size or 0) - self._free

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def wake(self) -> None:
        """Have the runs waiting for a slot look at their stop again."""
        with self._cond:
            self._cond.notify_all()


@contextlib.contextmanager
def calling_on_signals(signums: Iterable[int], stop: Callable[[], None]) -> Iterator[None]:
    """While the block runs, each of these signals calls `stop` (`trigger` and
    `backfill` cut their runs short so); the caller's handlers come back after."""
    previous = {signum: signal.getsignal(signum) for signum in signums}
    for signum in previous:
        signal.signal(signum, lambda *_: stop())
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
