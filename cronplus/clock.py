"""The one place cronplus reads time, so scheduling logic is tested without sleeping.

`system_clock()` is the clock every command uses. With `CRONPLUS_CLOCK_FILE` set
(a fault-injection setting for tests, read only here) the wall clock is the
system's plus the number of seconds written in that file, re-read whenever the
file changes, so a test moves a running daemon's clock forward or backward as an
NTP step or a resume from suspend would. The monotonic clock is never moved:
that is what real clock steps do too.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

CLOCK_FILE_ENV = "CRONPLUS_CLOCK_FILE"


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC wall time: fire times and records."""
        ...

    def monotonic(self) -> float:
        """Seconds for deadlines and durations; immune to clock steps."""
        ...

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        """Wait `seconds` of this clock's monotonic time (a retry's delay), or until
        `wake` is set; True if woken. A test's clock ends the wait when it is moved."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        # A wait past what threading can take (some 292 years) waits that long: until woken.
        return wake.wait(min(seconds, threading.TIMEOUT_MAX))


class OffsetClock(SystemClock):
    """The system clock moved by the seconds in a file (see the module doc)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._offset = timedelta(0)

    def now(self) -> datetime:
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp != self._stamp:
                with open(self.path) as f:
                    self._offset = timedelta(seconds=float(f.read().strip() or 0))
                self._stamp = stamp
        except (OSError, ValueError):
            pass  # keep the last offset: a test is rewriting the file
        return datetime.now(UTC) + self._offset


def system_clock() -> Clock:
    path = os.environ.get(CLOCK_FILE_ENV)
    return OffsetClock(path) if path else SystemClock()
