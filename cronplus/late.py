"""A run's late timer: `late` logged (and alerted) once a run has gone on past its
job's `expected_duration`, counted from its first attempt's start.

Out of `runner` (issue 16) so that the runner stays one run's attempts and its end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from cronplus.clock import Clock
from cronplus.model import Job, Run


def late_timer(
    job: Job,
    run: Run,
    since: datetime | None,
    clock: Clock,
    on_late: Callable[[Run, float], None],
) -> threading.Timer | None:
    """Call `on_late(run, expected_s)` once the run has gone on past expected_duration,
    counted from its first attempt's start (`since`, else now): time queued for a slot
    is not late. None for a job with no expected_duration; the caller cancels it when
    the run's outcome is known."""
    if job.expected_duration is None:
        return None
    expected = job.expected_duration.total_seconds()
    left = expected
    if since is not None:
        left -= (clock.now() - since).total_seconds()
    late = threading.Timer(max(left, 0.0), on_late, (run, expected))
    late.daemon = True
    late.start()
    return late
