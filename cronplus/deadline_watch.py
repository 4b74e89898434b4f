"""Deadlines in the daemon (issue 15): each fire time's deadline checked once, when it
passes, with no timer per run.

Each job with a `deadline` has one next deadline, T + deadline for the next fire time T
of the schedule that drives it (its own, or its pipeline's for a job with `after`),
kept in a heap by instant as the engine keeps fire times (`due.Due`); the engine's
loop sleeps until the first of both and calls `check`. At a deadline, the run for
(job, T) is looked up: if it had not succeeded by then, whatever the reason (still
running, queued, waiting for a retry, failed, upstream_failed, skipped, or no run at
all) but a pause (skipped `paused`: the user's own "not now"), `deadline` is
alerted, once per (job, T) (`Store.deadline_alerted`, also across restarts and
crashes). At the daemon's start, the deadlines that passed since a
daemon was last alive on the state are checked the same way, their message saying
the daemon was down; at most `catchup_limit` of them per job, the newest. No storm:
the misses one check finds of a job (a downtime's, or a forward clock jump's) are
told in one message, the newest's, counting the others since the oldest.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from cronplus.alerts import Alerter
from cronplus.config import config_dag, pipeline_schedule
from cronplus.deadlines import deadline_at, met
from cronplus.due import Due
from cronplus.model import PAUSED_REASON, Config, Job, Run, RunStatus
from cronplus.schedule import fire_times, is_reboot, parse_schedule
from cronplus.store import Store

# (schedule, zone, root job): what a job's fire times follow
Drive = tuple[str, str, str]
Alert = Callable[..., None]  # `Dispatcher.alert`: (Alerter.deadline, *its arguments)


class DeadlineWatch:
    """The next deadline of each job that has one, checked by the engine's loop."""

    def __init__(self, config: Config, store: Store, alert: Alert) -> None:
        self.config = config
        self.store = store
        self._alert = alert
        self._due = Due()  # job -> its next deadline's instant
        self._t: dict[str, datetime] = {}  # job -> the fire time of that deadline
        self._iters: dict[str, Iterator[datetime]] = {}  # job -> its fire times after it
        self._drives: dict[str, Drive] = {}

    def first(self) -> datetime | None:
        """The next deadline of any job (None: no job has one)."""
        return self._due.first()

    def start(self, last_alive: datetime | None, now: datetime) -> None:
        """At a daemon's start, before it marks itself alive: the deadlines that passed
        since a daemon was last alive (`last_alive`; None: none ever ran, so none), then
        each job's next deadline after `now`. Fire times up to `now` were caught up by
        the engine's start: their deadlines ahead are still watched. Not for a job
        whose pipeline root has no scheduled run yet: the engine caught up nothing for
        it (a job added while no daemon ran), so it follows its fire times after `now`."""
        for job in self.config.jobs.values():
            drive = _drive(self.config, job)
            if drive is None or job.deadline is None:
                continue
            s, tz, after = parse_schedule(drive[0]), ZoneInfo(drive[1]), now
            if last_alive is not None and self._ran(drive, min(last_alive, now), now, job):
                after = now - job.deadline
                passed = fire_times(s, tz, last_alive - job.deadline, after)
                self._check_all(job, deque(passed, maxlen=job.catchup_limit), now, down=True)
            self._follow(job, drive, after)

    def _ran(self, drive: Drive, since: datetime, now: datetime, job: Job) -> bool:
        """Did `job` have a fire time whose deadline is after `since` and that the
        engine ran or caught up (its root has a scheduled run)? A query only then."""
        assert job.deadline is not None
        s, tz = parse_schedule(drive[0]), ZoneInfo(drive[1])
        if next(fire_times(s, tz, since - job.deadline, now), None) is None:
            return False
        return self.store.latest_scheduled(drive[2]) is not None

    def reconfigure(self, new: Config, now: datetime) -> None:
        """A reloaded jobs file, from the next deadline checked on, with the new
        `deadline` (due at once if it has passed). A job whose fire times changed
        (schedule, zone, pipeline) keeps those that came before `now` and follows its
        new ones after `now`, as the engine does; a new job, its fire times after `now`."""
        self.config = new
        fired: dict[str, list[datetime]] = {}
        for name in list(self._drives):
            job = new.jobs.get(name)
            if job is None or job.deadline is None or _drive(new, job) != self._drives[name]:
                fired[name] = self._drop(name, now)
        for job in new.jobs.values():
            drive = _drive(new, job)
            if drive is None or job.deadline is None:
                continue
            if job.name not in self._drives:
                self._follow(job, drive, now, fired.get(job.name, []))
            elif (
                job.name in self._t
                and self._due.at.get(job.name) != self._t[job.name] + job.deadline
            ):
                self._due.set(job.name, self._t[job.name] + job.deadline)

    def corrected(self, now: datetime, through: dict[str, datetime]) -> None:
        """The wall clock was set back by a correction (`Engine.jumped`): the jobs fire
        from their first fire time after `now` (or after `through`, their root's newest
        pruned run), so each follows those fire times' deadlines (a time met or alerted
        while the clock was ahead is not again)."""
        for name, drive in list(self._drives.items()):
            self._follow(self.config.jobs[name], drive, max(now, through.get(drive[2], now)))

    def check(self, now: datetime) -> None:
        """Check every deadline due at `now`: a job's passed all at once (a forward
        clock jump) are checked the newest `catchup_limit` of them, its misses told
        in one message."""
        while (name := self._due.pop_due(now)) is not None:
            try:
                self._check_due(self.config.jobs[name], now)
            finally:  # back in the heap at its next deadline
                self._due.back(name)

    def _check_due(self, job: Job, now: datetime) -> None:
        assert job.deadline is not None
        due: deque[datetime] = deque(maxlen=job.catchup_limit)
        t: datetime | None = self._t[job.name]
        while t is not None and t + job.deadline <= now:
            due.append(t)
            t = next(self._iters[job.name], None)
        try:
            self._check_all(job, due, now, down=False)
        except BaseException:  # the state refused: the one left first and those after wait
            left = [*due, *([] if t is None else [t])]
            self._iters[job.name] = itertools.chain(left[1:], self._iters[job.name])
            self._set(job, left[0] if left else None)
            raise
        self._set(job, t)

    def _check_all(self, job: Job, due: deque[datetime], now: datetime, *, down: bool) -> None:
        """Check the deadlines of fire times `due` (oldest first), each taken off `due`
        once checked (those left when the state refuses wait), and alert the misses not
        alerted before in one message: the newest's, with how many more since the oldest."""
        missed: list[tuple[datetime, Run | None]] = []
        try:
            while due:
                t = due[0]
                run = self.store.find_run(job.name, t)
                met_now = met(deadline_at(job, t), run, now) is True
                if not (met_now or self._paused(job, t, run)) and self.store.deadline_alerted(
                    job.name, t
                ):
                    missed.append((t, run))
                due.popleft()
        finally:  # those noted are told, also when a later one could not be checked
            if missed:
                (t, run), more, since = missed[-1], len(missed) - 1, missed[0][0]
                self._alert(Alerter.deadline, job.name, t, run, down=down, more=more, since=since)

    def _paused(self, job: Job, t: datetime, run: Run | None) -> bool:
        """Was fire time `t` skipped because the job, or its pipeline's first job, was
        paused? A pause is the user's own "not now": it alerts neither `missed` nor
        `deadline`."""
        if run is None and job.after:
            root = config_dag(self.config).pipeline_roots(job.name)[0]
            run = self.store.find_run(root, t)
        return run is not None and run.status is RunStatus.SKIPPED and run.reason == PAUSED_REASON

    def _follow(
        self, job: Job, drive: Drive, after: datetime, fired: list[datetime] | None = None
    ) -> None:
        """Watch `job`'s deadlines: those of `fired`, then of its fire times after `after`."""
        s, tz = parse_schedule(drive[0]), ZoneInfo(drive[1])
        self._drives[job.name] = drive
        self._iters[job.name] = itertools.chain(fired or [], fire_times(s, tz, after))
        self._due.set(job.name, None)
        self._set(job, next(self._iters[job.name], None))

    def _set(self, job: Job, t: datetime | None) -> None:
        """`job`'s next deadline is that of fire time `t` (None: it has no more)."""
        assert job.deadline is not None
        if t is None:
            self._t.pop(job.name, None)
            self._due.at.pop(job.name, None)
            return
        self._t[job.name] = t
        if job.name in self._due.at:
            self._due.at[job.name] = t + job.deadline  # put back in the heap by `check`
        else:
            self._due.set(job.name, t + job.deadline)

    def _drop(self, name: str, now: datetime) -> list[datetime]:
        """Stop watching `name`; the fire times up to `now` whose deadline is not checked."""
        fired: list[datetime] = []
        t, it = self._t.pop(name, None), self._iters.pop(name, iter(()))
        while t is not None and t <= now:
            fired.append(t)
            t = next(it, None)
        self._drives.pop(name, None)
        self._due.set(name, None)
        return fired


def _drive(config: Config, job: Job) -> Drive | None:
    """The fire times `job`'s deadlines follow: its schedule's, or its pipeline's for a
    job with `after`; None for a disabled job, a disabled pipeline, `@reboot`."""
    if job.deadline is None or not job.enabled:
        return None
    expr, zone = pipeline_schedule(config, job.name)
    root = config.jobs[config_dag(config).pipeline_roots(job.name)[0]]
    if expr is None or is_reboot(expr) or not root.enabled:
        return None
    return expr, zone, root.name
