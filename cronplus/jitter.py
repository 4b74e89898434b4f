"""`jitter`: the claimed runs waiting out their random delay before they start.

A run with jitter is claimed (`queued`) at its fire time and then waits here, in
one heap by start instant, with no thread of its own: the engine's loop, which
waits anyway, starts each once its instant comes (`Dispatcher.start_waited`), so
10,000 waiting runs cost no thread and no job's fire time waits for another's
delay. While it waits it is its job's active run, so `overlap` sees it going, and
a crash leaves it `queued`, recovered like any queued run.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
from collections.abc import Callable
from datetime import datetime

from cronplus.clock import Clock
from cronplus.events import log_event
from cronplus.model import Job, Run, Trigger
from cronplus.run_control import RunControl

JITTERED = (Trigger.SCHEDULE, Trigger.CATCHUP)  # manual runs and backfills start at once


class Waiting:
    """The runs waiting out their jitter, by start instant. `random` draws in [0, 1)
    (a test injects a seeded one); `on_hold` wakes the engine's loop."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.random: Callable[[], float] = random.random
        self.on_hold: Callable[[], None] = lambda: None
        self._lock = threading.Lock()
        self._heap: list[tuple[datetime, int, Run, RunControl]] = []
        self._order = itertools.count()

    def hold(self, run: Run, control: RunControl, job: Job | None) -> bool:
        """Hold a fresh scheduled or catch-up run of a job with `jitter` for a delay
        drawn uniformly from [0, jitter), new for each run; False if it has none."""
        if job is None or job.jitter is None or run.trigger not in JITTERED:
            return False
        delay = job.jitter * self.random()
        start_at = self.clock.now() + delay
        log_event(run, "jitter", None, f"starts in {delay.total_seconds():.3f}s")
        with self._lock:
            heapq.heappush(self._heap, (start_at, next(self._order), run, control))
        self.on_hold()
        return True

    def first(self) -> datetime | None:
        """When the first waiting run is to start (None: none waits)."""
        with self._lock:
            return self._heap[0][0] if self._heap else None

    def due(self, now: datetime) -> list[tuple[Run, RunControl, datetime]]:
        """The runs whose delay is over at `now`, each with its delayed start, out of
        the heap."""
        out = []
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                start_at, _, run, control = heapq.heappop(self._heap)
                out.append((run, control, start_at))
        return out

    def take_all(self) -> list[Run]:
        """At the stop: every waiting run, none of which will start."""
        with self._lock:
            runs = [run for _, _, run, _ in self._heap]
            self._heap.clear()
        return runs


def too_late(job: Job | None, start_at: datetime, now: datetime) -> str | None:
    """Why a run whose delay ended at `start_at` may not start at `now`: its
    start_grace counts from its delayed start, not from its fire time."""
    if job is None or now - start_at <= job.start_grace:
        return None
    grace = job.start_grace.total_seconds()
    return f"cronplus could not start it within {grace:g}s of its jittered start"
