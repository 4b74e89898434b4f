"""Answers to "did it run?": each job's latest run and next fire time, and a date's
fire times set beside the runs recorded for them.

Read-only and quick: uses the schedule layer's own evaluator (no croniter) and
the store's indexed reads, so a piped `status` stays within a CLI's budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice, takewhile
from typing import TYPE_CHECKING

from cronplus.config import config_dag, pipeline_schedule
from cronplus.leases import here, owner_live
from cronplus.model import Config, Job, Run, RunStatus
from cronplus.procs import alive, any_runs_with_arg, runs_with_arg
from cronplus.reading import with_items
from cronplus.schedule import fire_times, is_reboot, parse_schedule
from cronplus.store import Store
from cronplus.zones import zone

if TYPE_CHECKING:  # imported where used: a piped status of jobs without deadlines needs none
    from cronplus.deadline_report import Asked, Verdict


@dataclass(frozen=True, slots=True)
class Going:
    """How a run that is not over stands now, as read from outside: `orphaned` when
    no process runs it any more (its cronplus died, and no job process is left);
    `late` once it has run longer than its job's expected_duration."""

    orphaned: bool = False
    late: bool = False
    elapsed_s: float | None = None  # since its first attempt started; None while queued


NOT_GOING = Going()


@dataclass(frozen=True, slots=True)
class JobStatus:
    job: Job
    schedule: str | None  # the pipeline's schedule for an `after` job
    last_run: Run | None
    last_finished: Run | None  # decides the exit code
    next_run: datetime | None
    paused_since: datetime | None = None
    overdue: datetime | None = None  # the oldest fire time after last_run that has no run
    going: tuple[tuple[Run, Going], ...] = ()  # its runs not over yet, oldest first
    deadline: Verdict | None = None  # its latest deadline that passed, if it has one

    def state_of(self, run: Run) -> Going:
        return next((g for r, g in self.going if r.id == run.id), NOT_GOING)

    @property
    def is_bad(self) -> bool:
        """Makes `status` exit 1: a failed latest outcome, an overdue fire time, or a
        newest run whose process is gone."""
        if not self.job.enabled:
            return False
        if self.last_finished is not None and self.last_finished.status.is_bad:
            return True
        if self.last_run is not None and self.state_of(self.last_run).orphaned:
            return True
        return self.overdue is not None


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
    now: datetime  # when it was read: the deadlines' verdicts are on it
    going: dict[int, Going] = field(default_factory=dict)  # run id -> state, runs not over
    pruned_through: datetime | None = None  # fire times up to it with no run were pruned

    def verdict(self, slot: Slot) -> Verdict:
        """The deadline of the fire time: met, missed or ahead (`deadline_report`)."""
        from cronplus.deadline_report import slot_verdict

        return slot_verdict(self.job, slot.fire_time, slot.run, self.is_pruned(slot), self.now)

    def run_verdict(self, run: Run) -> Verdict:
        """The deadline of a run of the date with no fire time (none for a manual run)."""
        from cronplus.deadline_report import Verdict
        from cronplus.deadlines import met, run_deadline

        at = run_deadline(self.job, run)
        return Verdict(run.scheduled_for, at, met(at, run, self.now), run)

    def is_pruned(self, slot: Slot) -> bool:
        """A fire time with no run at or before the job's newest pruned run (retention):
        its run went, so it is no problem and no `no_run`."""
        through = self.pruned_through
        return slot.run is None and through is not None and slot.fire_time <= through

    def state_of(self, run: Run) -> Going:
        return self.going.get(run.id, NOT_GOING)

    def is_problem(self, slot: Slot) -> bool:
        """A fire time that did not succeed: passed with no run, or a run that did not
        succeed (skipped included), or one still going whose process is gone or that
        is late. Fire times not yet due and runs going well are not problems."""
        if slot.run is None:
            return slot.due and not self.is_pruned(slot)
        return self.run_is_problem(slot.run)

    def run_is_problem(self, run: Run) -> bool:
        if not run.status.is_final:
            state = self.state_of(run)
            return state.orphaned or state.late
        return run.status != RunStatus.SUCCEEDED

    @property
    def is_bad(self) -> bool:
        """Makes `status --on` exit 1: a run of the date ended badly, or its process is gone."""
        return any(r.status.is_bad or self.state_of(r).orphaned for r in self.runs)

    def problems_only(self) -> DayReport:
        return DayReport(
            job=self.job,
            day=self.day,
            slots=tuple(s for s in self.slots if self.is_problem(s)),
            other_runs=tuple(r for r in self.other_runs if self.run_is_problem(r)),
            now=self.now,
            going=self.going,
            pruned_through=self.pruned_through,
        )

    @property
    def runs(self) -> list[Run]:
        found = [s.run for s in self.slots if s.run is not None] + list(self.other_runs)
        return sorted(found, key=lambda r: (r.scheduled_for, r.id))

    @property
    def no_run(self) -> list[datetime]:
        return [
            s.fire_time for s in self.slots if s.run is None and s.due and not self.is_pruned(s)
        ]

    @property
    def pruned(self) -> list[datetime]:
        return [s.fire_time for s in self.slots if self.is_pruned(s)]


def on_schedule(config: Config) -> set[str]:
    """The jobs the schedule will run: each one enabled with every job it is after,
    transitively (the daemon never fires a disabled root, and a disabled job in the
    middle of a pipeline is skipped, so nothing below it runs). One pass in run order,
    each job looked at once, whatever the number of jobs."""
    out: set[str] = set()
    for name in config_dag(config).order:
        job = config.jobs[name]
        if job.enabled and all(d in out for d in job.after if d in config.jobs):
            out.add(name)
    return out


def upcoming(config: Config, job: Job, after: datetime, count: int) -> list[datetime]:
    expr, _ = pipeline_schedule(config, job.name)
    if expr is None or is_reboot(expr):
        return []
    return list(_fire_times(expr, job.timezone, after, count))


# Jobs that share a schedule and zone share their fire times: `next` asks each job
# from (nearly) the same instant, `status` asks the jobs of a pipeline, and every job
# that ran at the same time, for the fire time after that run. One schedule walk was
# most of a job's cost (issue 12), so each (schedule, zone, count) keeps its last few
# answers (status asks from a last run and from now, in turns): the fire times after
# `a` are those after an earlier `a0` when none of the latter falls in (a0, a], i.e.
# when the first of them is later than `a`.
_KEPT_MAX, _KEPT_EACH = 4_096, 4
_kept: dict[tuple[str, str, int], tuple[tuple[datetime, tuple[datetime, ...]], ...]] = {}


def _fire_times(expr: str, tz: str, after: datetime, count: int) -> tuple[datetime, ...]:
    key = (expr, tz, count)
    answers = _kept.get(key, ())
    for since, times in answers:
        if since <= after and (not times or times[0] > after):
            return times
    times = tuple(islice(fire_times(parse_schedule(expr), zone(tz), after=after), count))
    if len(_kept) >= _KEPT_MAX:
        _kept.clear()
    _kept[key] = ((after, times), *answers[: _KEPT_EACH - 1])
    return times


def job_statuses(config: Config, store: Store, names: list[str], now: datetime) -> list[JobStatus]:
    paused = store.paused_jobs()
    unfinished: dict[str, list[Run]] = {}
    going_runs = store.unfinished_runs()
    running = on_schedule(config)
    latest = store.latest_runs(names)  # one read for every job, not two a job
    # issue 16: the items of each run shown, running or last, in one read
    lasts = [last for last, _ in latest.values() if last is not None]
    held = {r.id: r for r in with_items(store, [*going_runs, *lasts], config)}
    for run in going_runs:
        unfinished.setdefault(run.job, []).append(held[run.id])
    dag = config_dag(config)
    out, timed = [], []
    for name in names:
        job = config.jobs[name]
        scheduled = name in running
        last, last_finished = latest.get(name, (None, None))
        root = config.jobs[dag.pipeline_roots(name)[0]]  # as pipeline_schedule
        expr = root.schedule
        mine = unfinished.get(name)
        last = held[last.id] if last is not None else None
        going = (
            ()
            if not mine
            else tuple(
                (r, going_state(store, r, job, now))
                for r in sorted(mine, key=lambda r: r.scheduled_for)
            )
        )
        nxt, late_fire = None, None
        if scheduled:
            watched = name not in paused
            nxt, late_fire = _next_and_overdue(config, store, job, last, now, expr, watched)
            # Asked now: the fire time after `last` is kept. A paused job (or pipeline)
            # is not judged, as it is never overdue.
            if job.deadline is not None and watched and root.name not in paused:
                timed.append(_deadline_asked(job, root, last))
        out.append(
            JobStatus(
                job=job,
                schedule=expr,
                last_run=last,
                last_finished=last_finished,
                next_run=nxt,
                paused_since=paused.get(name),
                overdue=late_fire,
                going=going,
            )
        )
    if not timed:  # a jobs file without deadlines: no read, no walk
        return out
    from cronplus.deadline_report import latest_verdicts

    verdicts = latest_verdicts(store, timed, now)
    return [replace(r, deadline=verdicts.get(r.job.name)) if r.job.deadline else r for r in out]


def _deadline_asked(job: Job, root: Job, last: Run | None) -> Asked:
    """What `latest_verdicts` asks of a job with a deadline, on the schedule and zone of
    its pipeline, with the fire time after its newest run (`_next_and_overdue` has just
    asked for it: kept, not walked again)."""
    after = None
    if last is not None and root.schedule and not is_reboot(root.schedule):
        times = _fire_times(root.schedule, root.timezone, last.scheduled_for, 1)
        after = times[0] if times else None
    return job, root.schedule, root.timezone, last, after


# -- status --watch ---------------------------------------------------------------------------

FAILURES_SINCE = timedelta(hours=24)  # what `status --watch` lists as failed lately
FAILURES_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Watch:
    """One look of `status --watch`: the `status` rows, the runs of those jobs that
    ended badly in the last 24 hours (newest end first), the daemon's pid (None: no
    daemon; 0: one whose pid is unknown)."""

    now: datetime
    rows: list[JobStatus]
    failures: list[Run]
    daemon_pid: int | None


def watch(
    config: Config, store: Store, names: list[str], now: datetime, daemon_pid: int | None
) -> Watch:
    wanted = set(names)
    # Through the index of runs ended badly: never the runs that went well.
    failures = [r for r in store.ended_badly(now - FAILURES_SINCE, 500) if r.job in wanted]
    rows = job_statuses(config, store, names, now)
    return Watch(now, rows, failures[:FAILURES_SHOWN], daemon_pid)


def _next_and_overdue(
    config: Config,
    store: Store,
    job: Job,
    last: Run | None,
    now: datetime,
    expr: str | None,
    watched: bool,
) -> tuple[datetime | None, datetime | None]:
    """The job's next fire time and, if `watched` (not paused), `overdue`. A job whose
    first fire time after its newest run is still to come has both from that one
    fire time: the usual case, and one schedule walk a job instead of two."""
    if is_reboot(expr):
        return None, None  # no fire times: nothing next, nothing overdue
    quick = watched and job.enabled and expr is not None and last is not None
    if quick and last.scheduled_for <= now:
        times = _fire_times(expr, job.timezone, last.scheduled_for, 1)
        if not times:
            return None, None
        first = times[0]
        if first > now and first > now - job.start_grace:
            return first, None
    nxt = upcoming(config, job, now, 1)
    late = overdue(config, store, job, last, now, expr) if watched else None
    return (nxt[0] if nxt else None), late


_OVERDUE_LOOKS = 100  # fire times looked at past a job's newest run, at most


def overdue(
    config: Config,
    store: Store,
    job: Job,
    last: Run | None,
    now: datetime,
    expr: str | None = None,
) -> datetime | None:
    """The oldest fire time after the job's newest run (by logical time) that passed
    more than `start_grace` ago with no run: the schedule says it should have run, and
    nothing did (no daemon, or a stuck one). A job never run is not overdue. A job
    with `after` runs once every job it is after has succeeded for the time, so only
    such fire times count for it: one still waiting, or blocked upstream, is not late
    (the upstream job is, if anything). `expr`: the pipeline's schedule, if known."""
    if last is None or not job.enabled:
        return None
    if expr is None:
        expr, _ = pipeline_schedule(config, job.name)
    if expr is None or is_reboot(expr):
        return None  # @reboot has no fire times: it cannot be overdue
    cutoff = now - job.start_grace
    times = fire_times(parse_schedule(expr), zone(job.timezone), after=last.scheduled_for)
    if not job.after:
        first = next(times, None)
        return first if first is not None and first <= cutoff else None
    passed = list(takewhile(lambda t: t <= cutoff, islice(times, _OVERDUE_LOOKS)))
    if not passed:
        return None
    # One read per upstream job over the times looked at, not one per time.
    end = passed[-1] + timedelta(microseconds=1)
    ok = RunStatus.SUCCEEDED
    done = [
        {r.scheduled_for for r in store.runs_between(name, passed[0], end) if r.status is ok}
        for name in set(job.after)
    ]
    return next((t for t in passed if all(t in d for d in done)), None)


def going_state(store: Store, run: Run, job: Job | None, now: datetime) -> Going:
    """How a run that is not over stands (see `Going`); NOT_GOING for a final one."""
    if run.status.is_final:
        return NOT_GOING
    elapsed = None if run.started_at is None else (now - run.started_at).total_seconds()
    late = (
        job is not None
        and job.expected_duration is not None
        and elapsed is not None
        and elapsed > job.expected_duration.total_seconds()
    )
    return Going(orphaned=_orphaned(store, run), late=late, elapsed_s=elapsed)


def _orphaned(store: Store, run: Run) -> bool:
    """No process runs it: its cronplus process is gone, and so is its attempt's job
    (a job that outlived its daemon is still going; the next daemon adopts it)."""
    owner_host, owner = store.run_owner(run.id)
    if not here(store, owner_host):
        return not owner_live(store, owner_host, owner)  # its files are on that host
    if owner is not None and alive(owner):
        return False
    attempt = run.last_attempt
    if attempt is not None and attempt.finished_at is None and attempt.log:
        status_path = attempt.log + ".status"
        if attempt.pid:
            return not runs_with_arg(attempt.pid, status_path)
        # Its pid is recorded only once it has gone on a moment: a crash before then
        # leaves none, and its wrapper is found by the status path it carries.
        return not any_runs_with_arg(status_path)
    return True


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
    if expr is not None and not is_reboot(expr):  # @reboot: its runs, no fire times
        # fire_times is strictly after its start, so begin a microsecond early.
        for t in fire_times(
            parse_schedule(expr), zone(job.timezone), after=start - timedelta(microseconds=1)
        ):
            if t >= end:
                break
            times.append(t)
    runs = with_items(store, store.runs_between(job.name, start, end), config)  # issue 16
    # Keyed in UTC: an aware datetime with fold=1 (the second pass of a fall-back) hashes
    # like its first pass, so a zone-local key would miss the run recorded for it.
    by_time = {r.scheduled_for.astimezone(UTC): r for r in runs}
    slots = tuple(Slot(t, by_time.pop(t.astimezone(UTC), None), t <= now) for t in times)
    going = {r.id: going_state(store, r, job, now) for r in runs if not r.status.is_final}
    through = store.pruned_through([job.name]).get(job.name) if times else None
    return DayReport(job, day, slots, tuple(by_time.values()), now, going, through)


def not_run_downstream(config: Config, job: str, runs: list[Run]) -> list[tuple[str, str]]:
    """After `trigger JOB`: each job downstream of JOB with no run at that logical time,
    and what it waits for (a fan-in job whose other upstream jobs have not succeeded
    for that instant). (job, reason), in dependency order."""
    below = config_dag(config).downstream(job)
    recorded = {r.job for r in runs}
    succeeded = {r.job for r in runs if r.status is RunStatus.SUCCEEDED}
    part_of = set(below) | {job}
    out = []
    for name in below:
        if name in recorded:
            continue
        waits = [u for u in config.jobs[name].after if u not in succeeded]
        outside = [u for u in waits if u not in part_of]
        inside = [u for u in waits if u in part_of]
        parts = [f"{', '.join(outside)} at this logical time"] if outside else []
        parts += [", ".join(inside)] if inside else []
        out.append((name, f"not run, waits for {' and '.join(parts)}"))
    return out
