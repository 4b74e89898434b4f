"""One job's runs in this process (`Lane`) and the rules on whether a run goes: its
`overlap` (whether a fire time due while a run of the job goes is skipped) and its
`after` (`upstream_blocker`). The dispatcher holds the lanes."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cronplus.model import Job, Overlap, Run
from cronplus.run_control import RunControl
from cronplus.state_health import state_down
from cronplus.store import Store
from cronplus.zones import human_time


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


def upstream_blocker(
    store: Store, after: Iterable[str], scheduled_for: datetime, timezone: str
) -> str | None:
    """Why a job that runs after the jobs `after` may not run for `scheduled_for`:
    one of them has no successful run for it (None if every one has). The daemon's
    release, `trigger`'s and `backfill` all ask this."""
    after = list(after)
    succeeded = store.succeeded_jobs(after, scheduled_for)
    for name in after:
        if name not in succeeded:
            return no_success(name, scheduled_for, timezone)
    return None


def no_success(upstream_job: str, scheduled_for: datetime, timezone: str) -> str:
    """The reason a dependent does not run: its upstream job did not succeed for T."""
    when = human_time(scheduled_for, timezone)
    return f'upstream job "{upstream_job}" has no successful run for {when}'
