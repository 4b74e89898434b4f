"""Deadlines as the read commands show them (issue 15): each fire time's verdict
(`status --on`, the ledger) and, for `status`, each job's latest deadline that has
passed, read for every job at once.

The verdicts are `deadlines.met` on the caller's clock. For `status`, the run a
verdict needs is mostly the job's newest run, which `status` has read already; only
the jobs whose newest run is later than the fire time judged are read again, in one
query for all of them (`history_of`), so 10,000 jobs cost no query a job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cronplus.deadlines import deadline_at, met
from cronplus.model import PAUSED_REASON, Job, Run, RunStatus, Trigger
from cronplus.schedule import is_reboot, parse_schedule, previous_fire
from cronplus.store import Store
from cronplus.zones import zone

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The deadline of the run for `fire_time`: `at` (None: the job has none) and
    `met` (`deadlines.met`; also None when that fire time's run was `pruned`, so
    whether it succeeded in time is not known). `run`: the run for it, if any."""

    fire_time: datetime
    at: datetime | None
    met: bool | None
    run: Run | None = None
    pruned: bool = False

    @property
    def word(self) -> str:
        """`met`, `missed`, `ahead`, or `-` (no deadline, or its run was pruned)."""
        if self.at is None or self.pruned:
            return "-"
        return {True: "met", False: "missed", None: "ahead"}[self.met]


def slot_verdict(
    job: Job, fire_time: datetime, run: Run | None, pruned: bool, now: datetime
) -> Verdict:
    """The verdict of one fire time of a day; `pruned`: its run was let go by retention."""
    at = deadline_at(job, fire_time)
    return Verdict(fire_time, at, None if pruned else met(at, run, now), run, pruned)


Asked = tuple[Job, str | None, str, Run | None, datetime | None]


def latest_verdicts(store: Store, asked: Iterable[Asked], now: datetime) -> dict[str, Verdict]:
    """For each (job, the schedule and zone that drive it, its newest run, the fire time
    after that run if known) whose job has a deadline: the verdict of its newest fire
    time whose deadline has passed. A job without a deadline, without fire times, or
    none of whose deadlines has passed is left out.

    When the newest run is a fire time's (not a manual run) whose deadline passed and
    the fire time after it is still within its deadline, that run's is the one judged:
    no walk back (`previous_fire` costs ~150 us for a daily schedule, `status` has the
    fire time after the newest run already)."""
    last_fire: dict[tuple[str, str, datetime], datetime | None] = {}
    out: dict[str, Verdict] = {}
    again: dict[str, tuple[datetime, datetime]] = {}
    for job, expr, tz, last, after_last in asked:
        # A job that never ran is not judged, as it is never overdue: it was just added
        # (the daemon alerts no deadline for fire times before it watched the job).
        if job.deadline is None or expr is None or is_reboot(expr) or last is None:
            continue
        cutoff = now - job.deadline
        key = (expr, tz, cutoff)  # jobs sharing a schedule share the walk
        if (
            last is not None
            and after_last is not None
            and last.trigger is not Trigger.MANUAL
            and last.scheduled_for <= cutoff < after_last
        ):
            at = last.scheduled_for + job.deadline
            out[job.name] = Verdict(last.scheduled_for, at, met(at, last, now), last)
            continue
        if key not in last_fire:
            t = previous_fire(parse_schedule(expr), zone(tz), cutoff + _TICK)
            last_fire[key] = None if t is None else t.astimezone(UTC)
        t = last_fire[key]
        if t is None:
            continue
        if last is not None and last.scheduled_for > t:
            again[job.name] = (t, t + _TICK)  # its run for t is not its newest: read it
        run = last if last is not None and last.scheduled_for == t else None
        out[job.name] = Verdict(t, t + job.deadline, met(t + job.deadline, run, now), run)
    if again:
        found = {r.job: r for r in store.history_of(again)}
        missing = [name for name in again if name not in found]
        through = store.pruned_through(missing) if missing else {}
        for name, (t, _) in again.items():
            v, run = out[name], found.get(name)
            gone = run is None and name in through and t <= through[name]
            out[name] = Verdict(t, v.at, None if gone else met(v.at, run, now), run, gone)
    # A fire time skipped while paused is the user's own "not now": no verdict, as the
    # daemon sends no deadline alert for it.
    return {name: v for name, v in out.items() if not _paused(v.run)}


def _paused(run: Run | None) -> bool:
    return run is not None and run.status is RunStatus.SKIPPED and run.reason == PAUSED_REASON
