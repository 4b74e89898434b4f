"""Answers to "did it run?": each job's latest run and next fire time, and a date's
fire times set beside the runs recorded for them.

Read-only and quick: uses the schedule layer's own evaluator (no croniter) and
the store's indexed reads, so a piped `status` stays within a CLI's budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice

from cronplus.config import pipeline_schedule
from cronplus.graph import upstream
from cronplus.model import Config, Job, Run
from cronplus.render import zone
from cronplus.schedule import fire_times, parse_schedule
from cronplus.store import Store


@dataclass(frozen=True, slots=True)
class JobStatus:
    job: Job
    schedule: str | None  # the pipeline's schedule for an `after` job
    last_run: Run | None
    last_finished: Run | None  # decides the exit code
    next_run: datetime | None
    paused_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Slot:
    """One fire time of the day and the run recorded for it (None: no run)."""

    fire_time: datetime
    run: Run | None
    due: bool  # the fire time has passed


@dataclass(frozen=True, slots=True)
class DayReport:
    job: Job
    day: date
    slots: tuple[Slot, ...]
    other_runs: tuple[Run, ...]  # manual, backfill and other runs of that date with no slot

    @property
    def runs(self) -> list[Run]:
        found = [s.run for s in self.slots if s.run is not None] + list(self.other_runs)
        return sorted(found, key=lambda r: (r.scheduled_for, r.id))

    @property
    def no_run(self) -> list[datetime]:
        return [s.fire_time for s in self.slots if s.run is None and s.due]


def runs_on_schedule(config: Config, job: Job) -> bool:
    """Whether the schedule will run `job`: it and every job it is after, transitively,
    are enabled (the daemon never fires a disabled root, and a disabled job in the
    middle of a pipeline is skipped, so nothing below it runs)."""
    deps = {name: j.after for name, j in config.jobs.items()}
    return job.enabled and all(config.jobs[n].enabled for n in upstream(deps, job.name))


def upcoming(config: Config, job: Job, after: datetime, count: int) -> list[datetime]:
    expr, _ = pipeline_schedule(config, job.name)
    if expr is None:
        return []
    return list(islice(fire_times(parse_schedule(expr), zone(job.timezone), after=after), count))


def job_statuses(config: Config, store: Store, names: list[str], now: datetime) -> list[JobStatus]:
    paused = store.paused_jobs()
    out = []
    for name in names:
        job = config.jobs[name]
        nxt = upcoming(config, job, now, 1) if runs_on_schedule(config, job) else []
        out.append(
            JobStatus(
                job=job,
                schedule=pipeline_schedule(config, name)[0],
                last_run=store.latest_run(name),
                last_finished=store.latest_run(name, finished_only=True),
                next_run=nxt[0] if nxt else None,
                paused_since=paused.get(name),
            )
        )
    return out


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """The instants that start `day` and the day after, in the job's zone."""
    z = zone(tz)
    return (
        datetime.combine(day, time(), tzinfo=z),
        datetime.combine(day + timedelta(days=1), time(), tzinfo=z),
    )


def day_report(config: Config, store: Store, job: Job, day: date, now: datetime) -> DayReport:
    start, end = day_bounds(day, job.timezone)
    times: list[datetime] = []
    expr, _ = pipeline_schedule(config, job.name)
    if expr is not None:
        # fire_times is strictly after its start, so begin a microsecond early.
        for t in fire_times(
            parse_schedule(expr), zone(job.timezone), after=start - timedelta(microseconds=1)
        ):
            if t >= end:
                break
            times.append(t)
    runs = store.runs_between(job.name, start, end)
    # Keyed in UTC: an aware datetime with fold=1 (the second pass of a fall-back) hashes
    # like its first pass, so a zone-local key would miss the run recorded for it.
    by_time = {r.scheduled_for.astimezone(UTC): r for r in runs}
    slots = tuple(Slot(t, by_time.pop(t.astimezone(UTC), None), t <= now) for t in times)
    return DayReport(job=job, day=day, slots=slots, other_runs=tuple(by_time.values()))


def exit_is_bad(runs: list[Run]) -> bool:
    return any(r.status.is_bad for r in runs)
