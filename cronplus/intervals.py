"""Data intervals (issue 15): the period a run covers, [the previous fire time of the
schedule that drives its job, its own logical time).

The schedule is the job's own, or its pipeline's for a job with `after`
(`pipeline_schedule`); a job driven by none, or by `@reboot`, has no interval. The
start is `schedule.previous_fire`, which follows the schedule's DST rules (a daily
job's interval on a fall-back day is 25 hours). Asked about the runs of one job in
time order (a daemon's runs, a history's page), the start of each is found by walking
forward from the one before rather than searched for again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cronplus.config import pipeline_schedule
from cronplus.model import Config, Run
from cronplus.schedule import CronSchedule, fire_times, is_reboot, parse_schedule, previous_fire

Interval = tuple[datetime, datetime]

_WALK = 64  # fire times walked between two logical times before searching instead
_TICK = timedelta(microseconds=1)


class Intervals:
    """The data intervals of the runs of one configuration. Safe to share between
    threads: what it remembers is only ever a right answer."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._drives: dict[str, tuple[CronSchedule, ZoneInfo] | None] = {}
        self._known: dict[str, Interval] = {}  # job -> the last (start, end) worked out

    def of(self, job: str, logical: datetime) -> Interval | None:
        """[start, end) of `job`'s run for `logical`, or None without a schedule."""
        drive = self._drive(job)
        if drive is None:
            return None
        s, tz = drive
        known = self._known.get(job)
        start = _walk(s, tz, known, logical) if known and known[1] <= logical else None
        if start is None:
            start = previous_fire(s, tz, logical)
            if start is None:
                return None
        self._known[job] = (start, logical)
        return start, logical

    def of_run(self, run: Run) -> Interval | None:
        return self.of(run.job, run.scheduled_for)

    def of_runs(self, runs: Iterable[Run]) -> dict[int, Interval | None]:
        """Run id -> its interval: each job's runs in time order, along one walk of
        its fire times (a history page of 1,000 runs costs one search, not 1,000)."""
        by_job: dict[str, list[Run]] = {}
        for run in runs:
            by_job.setdefault(run.job, []).append(run)
        out: dict[int, Interval | None] = {}
        for job, of_job in by_job.items():
            drive = self._drive(job)
            of_job.sort(key=lambda r: r.scheduled_for)
            starts = _starts(*drive, [r.scheduled_for for r in of_job]) if drive else None
            for i, run in enumerate(of_job):
                start = starts[i] if starts else None
                out[run.id] = None if start is None else (start, run.scheduled_for)
        return out

    def _drive(self, job: str) -> tuple[CronSchedule, ZoneInfo] | None:
        if job in self._drives:
            return self._drives[job]
        drive = None
        if job in self.config.jobs:
            expr, zone = pipeline_schedule(self.config, job)
            if expr is not None and not is_reboot(expr):
                drive = parse_schedule(expr), ZoneInfo(zone)
        self._drives[job] = drive
        return drive


def _walk(s: CronSchedule, tz: ZoneInfo, known: Interval, logical: datetime) -> datetime | None:
    """The last fire time before `logical`, from `known` (the last one before an
    earlier logical time): the last of those in between, else the known one; None if
    more than `_WALK` lie between (then a search is quicker)."""
    last = known[0]
    for n, t in enumerate(fire_times(s, tz, known[0], logical - _TICK)):
        if n == _WALK:
            return None
        last = t
    return last


def _starts(s: CronSchedule, tz: ZoneInfo, times: list[datetime]) -> list[datetime | None]:
    """The last fire time before each of `times` (in order), along one iterator of
    fire times; searched again past a gap of more than `_WALK` of them."""
    out: list[datetime | None] = []
    last = previous_fire(s, tz, times[0])
    if last is None:  # never fired before the first: search each
        return [previous_fire(s, tz, t) for t in times]
    ahead = fire_times(s, tz, last)
    nxt = next(ahead, None)
    for t in times:
        for _ in range(_WALK):
            if nxt is None or nxt >= t:
                break
            last, nxt = nxt, next(ahead, None)
        else:
            if nxt is not None and nxt < t:  # a long gap: search, and walk on from there
                last = previous_fire(s, tz, t) or last
                ahead = fire_times(s, tz, last)
                nxt = next(ahead, None)
        out.append(last)
    return out
