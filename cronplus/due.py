"""The scheduled jobs' next fire times, in a heap by instant, for the engine; and
the fire times that passed while no daemon ran.

A wake-up of the daemon looks at the jobs due then and at no other: sorting every
job's next time at each wake made a busy daemon's work grow with the number of
jobs rather than with the runs due (issue 12).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cronplus.model import Job
from cronplus.schedule import fire_times, parse_schedule
from cronplus.store import Store

MAX_MISSED = 10_000  # fire times looked at after an outage: the latest ones


class Due:
    """Each job's next fire time (`at`) and a heap of them by instant. Jobs due at
    the same instant come out in the order they were first given a time."""

    def __init__(self) -> None:
        self.at: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, int, str]] = []  # (instant in UTC, rank, job)
        self._rank: dict[str, int] = {}
        self._ranks = itertools.count()

    def set(self, name: str, t: datetime | None) -> None:
        """`name` fires next at `t` (None: never again)."""
        if t is None:
            self.at.pop(name, None)
            return
        if name not in self.at:
            self._rank[name] = next(self._ranks)
        self.at[name] = t
        self.back(name)

    def back(self, name: str) -> None:
        """Put `name`, taken by `pop_due`, back in the heap at its time in `at`, if any.
        An entry left behind by a time changed since is dropped once it comes up."""
        t = self.at.get(name)
        if t is not None:
            heapq.heappush(self._heap, (t.astimezone(UTC), self._rank[name], name))

    def _top(self) -> tuple[datetime, int, str] | None:
        heap = self._heap
        while heap:
            key, rank, name = heap[0]
            t = self.at.get(name)
            if t is not None and self._rank[name] == rank and t.astimezone(UTC) == key:
                return heap[0]
            heapq.heappop(heap)  # its job's time moved on (a reload, a clock jump)
        return None

    def first(self) -> datetime | None:
        top = self._top()
        return None if top is None else self.at[top[2]]

    def due_by(self, t: datetime) -> list[str]:
        """The jobs due at or before `t` (and perhaps a few whose time moved since):
        only the part of the heap before `t` is looked at."""
        heap, names, todo = self._heap, [], [0]
        while todo:
            i = todo.pop()
            if i < len(heap) and heap[i][0] <= t:
                names.append(heap[i][2])
                todo += (2 * i + 1, 2 * i + 2)
        return names

    def pop_due(self, now: datetime) -> str | None:
        """The job due first at `now`, out of the heap until `back` (None: none due)."""
        top = self._top()
        if top is None or top[0] > now:
            return None
        heapq.heappop(self._heap)
        return top[2]


def missed_while_down(
    store: Store, job: Job, last_alive: datetime | None, now: datetime
) -> list[datetime]:
    """Fire times up to now with no run since the job's last scheduled run and since
    a daemon was last alive (a daemon that ran with the job disabled missed
    nothing). A state with no scheduled run yet has missed nothing."""
    assert job.schedule is not None
    schedule, zone = parse_schedule(job.schedule), ZoneInfo(job.timezone)
    if last_alive and next(fire_times(schedule, zone, last_alive, now), None) is None:
        return []  # none came due since: no query (10,000 jobs make 10,000 of them)
    last = store.latest_scheduled(job.name)
    if last is None:
        return []
    since = max(last, last_alive) if last_alive else last
    recorded = {r.scheduled_for for r in store.runs_between(job.name, since, now)}
    missed: deque[datetime] = deque(maxlen=MAX_MISSED)  # the latest, after a long outage
    for t in fire_times(schedule, zone, since, now):
        if t not in recorded:
            missed.append(t)
    return list(missed)
