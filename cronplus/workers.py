"""Threads for runs, kept once made: a run's thread is one parked by an earlier run
when there is one, and a new thread only when none is free.

Issue 12, a busy daemon: each of the 18 runs starting every second made its own
thread, and `Thread.start` waits until the new thread runs, so the engine and the
runs that were ending queued behind it; making a thread and tearing it down was
also a good part of what the daemon spent per run. A thread is named after the
task it runs (`run-ID`), and a parked one waits without a timeout, so an idle
daemon does not wake for it. At most `keep` are parked; more end.

The threads are daemon threads, because parked ones must not hold up the
interpreter's exit; whoever submits waits for its tasks (`wait_idle`), as the
daemon, `trigger` and `mark` do.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable


class Workers:
    def __init__(self, keep: int) -> None:
        self._keep = keep
        lock = threading.Lock()
        self._work = threading.Condition(lock)  # a task for a parked thread
        self._idle = threading.Condition(lock)  # no task left unfinished
        self._tasks: deque[tuple[str, Callable[[], None]]] = deque()
        self._parked = 0
        self._unfinished = 0  # submitted and not yet returned

    def submit(self, name: str, task: Callable[[], None]) -> None:
        """Run `task` in a thread named `name`; counted unfinished from now on, so
        `wait_idle` never misses it, even before its thread runs."""
        with self._work:
            self._unfinished += 1
            if self._parked > len(self._tasks):  # one parked is free for it
                self._tasks.append((name, task))
                self._work.notify()
                return
        # In a list it empties: the Thread keeps its arguments as long as it lives.
        threading.Thread(target=self._serve, args=([task],), name=name, daemon=True).start()

    def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until every task submitted, and every task they submitted, returned
        (`timeout`: each wait at most that long, and then again)."""
        with self._idle:
            while self._unfinished:
                self._idle.wait(timeout)

    def _serve(self, first: list[Callable[[], None]]) -> None:
        me = threading.current_thread()
        task = first.pop()
        while True:
            try:
                task()
            finally:
                # Parked, it must not keep what the run used alive: the store a
                # `trigger` leaves to be closed when nothing refers to it, for one.
                del task
                with self._idle:
                    self._unfinished -= 1
                    if not self._unfinished:
                        self._idle.notify_all()
            with self._work:
                while not self._tasks:
                    if self._parked >= self._keep:
                        return
                    self._parked += 1
                    self._work.wait()
                    self._parked -= 1
                me.name, task = self._tasks.popleft()
