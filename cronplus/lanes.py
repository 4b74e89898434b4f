"""One job's runs in this process (`Lane`) and its `overlap` rule: whether a fire time
due while a run of the job goes is skipped. The dispatcher holds the lanes."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from cronplus.model import Job, Overlap, Run
from cronplus.run_control import RunControl
from cronplus.state_health import state_down


@dataclass
class Lane:
    """One job's runs in this process: the one going, and the ones waiting behind it,
    in order: one for overlap = "queue", or a catch-up backlog (and the fire times
    that come due behind it)."""

    active: RunControl | None = None
    # Each with the attempts it has spent: a run resumed after a stop has some.
    queue: deque[tuple[Run, int | None]] = field(default_factory=deque)
    catching_up: bool = False  # a catch-up backlog has not drained: overlap waits


def overlap_skips(
    job: Job, active: RunControl | None, waiting: Run | None, now: datetime
) -> str | None:
    """Why `job`'s `overlap` skips a fire time while its run `active` goes (with the
    run `waiting` queued behind it), or None."""
    if active is None:
        return None
    if job.overlap is Overlap.SKIP:
        if active.stuck:  # it is not running: its state write waits for the state
            return state_down(now, job.timezone)
        return f"previous run {active.run_id} of the job was still running"
    if job.overlap is Overlap.QUEUE and waiting is not None:
        return f"run {waiting.id} of the job was already queued behind run {active.run_id}"
    return None
