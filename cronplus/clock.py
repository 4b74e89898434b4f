"""The one place cronplus reads time, so scheduling logic is tested without sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC wall time: fire times and records."""
        ...

    def monotonic(self) -> float:
        """Seconds for deadlines and durations; immune to clock steps."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()
