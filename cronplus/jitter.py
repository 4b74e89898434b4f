"""`jitter`: the claimed runs waiting out their random delay before they start.

A run with jitter is claimed (`queued`) at its fire time and then waits here, in
one heap by start instant, with no thread of its own: the engine's loop, which
waits anyway, starts each once its instant comes (`Dispatcher.start_waited`), so
10,000 waiting runs cost no thread and no job's fire time waits for another's
delay. While it waits it is its job's active run, so `overlap` sees it going, and
a crash leaves it `queued`, recovered like any queued run.

A delay is a duration: its start instant is on the clock's monotonic time, so a
step of the wall clock (NTP, a correction, a resume from suspend) leaves the rest
of the delay as it was.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from cronplus.clock import Clock
from cronplus.events import log_event
from cronplus.model import Job, Run, Trigger
from cronplus.run_control import RunControl

JITTERED = (Trigger.SCHEDULE, Trigger.CATCHUP)  # manual runs and backfills start at once
AHEAD_S = 86_400.0  # `first` looks no further: the engine wakes far more often anyway


class Ready(NamedTuple):
    """A run whose delay is over: with the attempts it had spent (a resumed run), and
    how many seconds ago its delay ended."""

    run: Run
    control: RunControl
    spent: int | None
    late_s: float


class Waiting:
    """The runs waiting out their jitter, by start instant. `random` draws in [0, 1)
    (a test injects a seeded one); `on_hold` wakes the engine's loop."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.random: Callable[[], float] = random.random
        self.on_hold: Callable[[], None] = lambda: None
        self._lock = threading.Lock()
        self._heap: list[tuple[float, int, Run, RunControl, int | None]] = []
        self._order = itertools.count()

    def hold(self, run: Run, control: RunControl, job: Job | None, spent: int | None) -> bool:
        """Hold a scheduled or catch-up run of a job with `jitter` for a delay drawn
        uniformly from [0, jitter), new for each run; False if it has none. In float
        seconds: no jitter, however large, can overflow a datetime here."""
        if job is None or job.jitter is None or run.trigger not in JITTERED:
            return False
        delay = job.jitter.total_seconds() * self.random()
        start = self.clock.monotonic() + delay
        log_event(run, "jitter", None, f"starts in {delay:.3f}s")
        with self._lock:
            heapq.heappush(self._heap, (start, next(self._order), run, control, spent))
        self.on_hold()
        return True

    def first(self) -> datetime | None:
        """When the first waiting run is to start, on the wall clock as it reads now
        (None: none waits)."""
        with self._lock:
            if not self._heap:
                return None
            start = self._heap[0][0]
        left = min(max(start - self.clock.monotonic(), 0.0), AHEAD_S)
        return self.clock.now() + timedelta(seconds=left)

    def due(self) -> list[Ready]:
        """The runs whose delay is over now, out of the heap."""
        now = self.clock.monotonic()
        out = []
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                start, _, run, control, spent = heapq.heappop(self._heap)
                out.append(Ready(run, control, spent, now - start))
        return out

    def remove(self, run_id: int) -> Run | None:
        """Take the run `run_id` out (a newer run replaces it), or None if it does not
        wait (any more)."""
        with self._lock:
            for i, entry in enumerate(self._heap):
                if entry[2].id == run_id:
                    self._heap[i] = self._heap[-1]
                    self._heap.pop()
                    heapq.heapify(self._heap)
                    return entry[2]
        return None

    def take_all(self) -> list[Run]:
        """At the stop: every waiting run, none of which will start."""
        with self._lock:
            runs = [entry[2] for entry in self._heap]
            self._heap.clear()
        return runs


def too_late(job: Job | None, late_s: float) -> str | None:
    """Why a run whose delay ended `late_s` seconds ago may not start now: its
    start_grace counts from its delayed start, not from its fire time."""
    if job is None or late_s <= job.start_grace.total_seconds():
        return None
    grace = job.start_grace.total_seconds()
    return f"cronplus could not start it within {grace:g}s of its jittered start"
