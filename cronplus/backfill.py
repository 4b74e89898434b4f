"""`cronplus backfill`: plan the logical runs of a date range (`_backfill_run`
executes the plan).

The plan is every fire time of the job's schedule (its pipeline's, for a job with
`after`) in the range and not later than now, for every job in the plan: JOB and
what runs after it, JOB alone with `only`, plus what it runs after with
`with_upstream`. Each (job, logical time) is classified against the runs already
recorded, so the same command run twice does the missing work only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import islice
from typing import TYPE_CHECKING

from cronplus.config import pipeline_schedule
from cronplus.errors import UnknownJobError, UsageError
from cronplus.graph import downstream, pipeline_roots, topological_order, upstream
from cronplus.model import Config, Run, RunStatus
from cronplus.schedule import CronSchedule, fire_times, is_reboot, parse_schedule
from cronplus.store import Store
from cronplus.zones import human_time, zone

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

MAX_PLANNED = 100_000  # more needs --yes
_COUNT_LEFT_OUT = 1_000_000  # the future part of a range is counted up to this many
_WAIT_S = 0.2  # how often a run in progress elsewhere is looked at again
_US = timedelta(microseconds=1)


class Action(StrEnum):
    RUN = "would-run"
    DONE = "already-succeeded"
    BLOCKED = "blocked"
    PRUNED = "pruned"  # no run, at or before the job's `pruned_through`: not run again


class Outcome(StrEnum):
    """What became of one planned (job, logical time): the --json counts."""

    SUCCEEDED = "succeeded"  # executed by this backfill and succeeded
    FAILED = "failed"  # executed and ended failed or timed_out
    INTERRUPTED = "interrupted"  # executed and cut short (a stop), or its outcome is unknown
    SKIPPED = "skipped"  # had already succeeded, not run again
    UPSTREAM_FAILED = "upstream_failed"  # a job it is after has no success for the time
    PRUNED = "pruned"  # planned `pruned`: its record went, not run (counted from the plan)


@dataclass(frozen=True, slots=True)
class PlanItem:
    job: str
    scheduled_for: datetime  # UTC
    action: Action
    run: Run | None  # the run recorded for it when planned
    detail: str | None


@dataclass(frozen=True, slots=True)
class Plan:
    job: str
    jobs: tuple[str, ...]  # in dependency order
    timezone: str
    start: datetime
    end: datetime  # inclusive
    times: tuple[datetime, ...]  # UTC, oldest first
    left_out: int  # fire times in the range later than now
    left_out_capped: bool  # counting stopped at _COUNT_LEFT_OUT
    disabled: tuple[str, ...]  # jobs left out because they (or a job they are after) are off
    items: tuple[PlanItem, ...]  # by logical time, then dependency order
    rerun: bool


@dataclass(frozen=True, slots=True)
class Settled:
    """One planned (job, logical time) that came to an end in this backfill."""

    job: str
    scheduled_for: datetime
    outcome: Outcome
    run: Run


@dataclass(frozen=True, slots=True)
class BackfillResult:
    plan: Plan
    settled: tuple[Settled, ...]  # in plan order
    interrupted: bool

    def count(self, outcome: Outcome) -> int:
        if outcome is Outcome.PRUNED:
            return sum(i.action is Action.PRUNED for i in self.plan.items)
        return sum(s.outcome is outcome for s in self.settled)

    @property
    def not_run(self) -> int:
        return len(self.plan.items) - len(self.settled) - self.count(Outcome.PRUNED)

    @property
    def ok(self) -> bool:
        good = (Outcome.SUCCEEDED, Outcome.SKIPPED)
        return (
            not self.interrupted
            and not self.not_run
            and all(s.outcome in good for s in self.settled)
        )


# -- the range ---------------------------------------------------------------------------------


def parse_bound(text: str, tz: str, option: str, *, end: bool) -> datetime:
    """A date is the whole day in `tz` (its start for --from, its end for --to); a
    date-time without offset is read in `tz`; one with an offset is that instant."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    try:
        if day is not None:
            # In UTC: where a zone falls back at midnight, the day's last hour comes
            # twice, and both passes belong to it.
            t = _day_start(day + timedelta(days=1), tz) - _US if end else _day_start(day, tz)
        else:
            try:
                t = datetime.fromisoformat(text)
            except ValueError:
                raise UsageError(
                    f'{option} "{text}" is not a date or an ISO date-time '
                    "(use e.g. 2026-11-01, 2026-11-01T02:00 or 2026-11-01T02:00+01:00)"
                ) from None
            t = t if t.tzinfo else t.replace(tzinfo=zone(tz))
        # Planning looks a little before and after; keep clear of the calendar's ends.
        t.astimezone(UTC) - timedelta(days=2)
        t.astimezone(UTC) + timedelta(days=2)
        return t
    except OverflowError:
        raise UsageError(f'{option} "{text}" is out of range (years 2 to 9998)') from None


def _day_start(day: date, tz: str) -> datetime:
    """The first instant of `day` in `tz`, as UTC."""
    return datetime.combine(day, time(), tzinfo=zone(tz)).astimezone(UTC)


# -- planning ----------------------------------------------------------------------------------


def plan_backfill(
    config: Config,
    store: Store,
    job: str,
    start_text: str,
    end_text: str,
    *,
    now: datetime,
    only: bool = False,
    with_upstream: bool = False,
    rerun: bool = False,
    yes: bool = False,
) -> Plan:
    """Work out what a backfill would do, reading the store and writing nothing."""
    if job not in config.jobs:
        raise UnknownJobError(job, config.jobs)
    expr, tz = pipeline_schedule(config, job)
    deps = {n: j.after for n, j in config.jobs.items()}
    watched = [config.jobs[r] for r in pipeline_roots(deps, job) if config.jobs[r].watch]
    if expr is None and watched:  # issue 16
        raise UsageError(
            f'job "{job}" runs when a file lands ({watched[0].watch}), so it has no fire times'
            " to backfill (run it for one file with: cronplus trigger"
            f" {watched[0].name} --file PATH --wait)"
        )
    if expr is None:
        raise UsageError(
            f'job "{job}" has no schedule, so it has no fire times to backfill '
            f"(run it with: cronplus trigger {job} --wait)"
        )
    if is_reboot(expr):
        raise UsageError(
            f'job "{job}" runs at each daemon start (@reboot), so it has no fire times to '
            f"backfill (run it with: cronplus trigger {job} --wait)"
        )
    start = parse_bound(start_text, tz, "--from", end=False)
    end = parse_bound(end_text, tz, "--to", end=True)
    if start > end:
        raise UsageError(f'--from "{start_text}" is after --to "{end_text}"')

    jobs, disabled = _plan_jobs(config, job, only=only, with_upstream=with_upstream)
    schedule, z = parse_schedule(expr), zone(tz)
    times = _past_times(schedule, z, start, min(end, now), jobs, yes=yes)
    future = fire_times(schedule, z, after=max(now, start - _US), until=end)
    left_out = sum(1 for _ in islice(future, _COUNT_LEFT_OUT + 1))
    capped = left_out > _COUNT_LEFT_OUT
    left_out = min(left_out, _COUNT_LEFT_OUT)
    if not times:
        shown = f"{human_time(start, tz)} and {human_time(end, tz)}"
        if left_out:
            raise UsageError(
                f'no fire time of "{job}" ({expr}, {tz}) between {shown} has come yet '
                f"({_left_out_text(left_out, capped)}); nothing to backfill"
            )
        raise UsageError(
            f'no fire time of "{job}" ({expr}, {tz}) falls between {shown}; nothing to backfill'
        )
    items = _classify(config, store, jobs, times, tz, start, end, rerun=rerun)
    return Plan(
        job=job,
        jobs=tuple(jobs),
        timezone=tz,
        start=start,
        end=end,
        times=tuple(times),
        left_out=left_out,
        left_out_capped=capped,
        disabled=tuple(disabled),
        items=tuple(items),
        rerun=rerun,
    )


def _past_times(
    schedule: CronSchedule,
    z: ZoneInfo,
    start: datetime,
    until: datetime,
    jobs: list[str],
    *,
    yes: bool,
) -> list[datetime]:
    """The fire times from `start` to `until` (now, at the latest); more than
    MAX_PLANNED runs of `jobs` need `yes`."""
    times: list[datetime] = []
    if start > until:
        return times
    limit = MAX_PLANNED // len(jobs) + 1
    for t in fire_times(schedule, z, after=start - _US, until=until):
        times.append(t)
        if not yes and len(times) >= limit:
            raise UsageError(
                f"the range holds more than {MAX_PLANNED:,} runs of {', '.join(jobs)}; "
                "narrow it, or pass --yes to plan them all"
            )
    return times


def _plan_jobs(
    config: Config, job: str, *, only: bool, with_upstream: bool
) -> tuple[list[str], list[str]]:
    """The jobs to plan in dependency order, and the disabled ones left out.

    A disabled job other than JOB (named on purpose, as with `trigger`) is left out
    with what runs after it, as the daemon would never run them. JOB itself always
    stays: after a disabled upstream job it is blocked, time by time, with a reason.
    """
    deps = {name: j.after for name, j in config.jobs.items()}
    up = set(upstream(deps, job)) if with_upstream else set()
    down = set() if only else set(downstream(deps, job))
    names = {job} | up | down
    off: set[str] = set()
    for n in names - {job}:
        if config.jobs[n].enabled:
            continue
        off.add(n)
        after_it = set(downstream(deps, n)) & names
        # Below a disabled upstream job only the other upstream jobs go: JOB and what
        # runs after it stay, and are blocked at run time.
        off |= after_it & up if n in up else after_it
    off.discard(job)
    order = topological_order(deps)
    return [n for n in order if n in names - off], [n for n in order if n in off]


PRUNED_DETAIL = "its record was pruned; --rerun runs it"


@dataclass(frozen=True, slots=True)
class _Known:
    """What the store holds for the planned jobs and those outside the plan they are
    after, in the range."""

    recorded: dict[str, dict[datetime, Run]]  # by job, by logical time (UTC)
    outside: set[str]
    through: dict[str, datetime]  # each job's `pruned_through`

    def pruned(self, job: str, t: datetime) -> bool:
        """No run of `job` for `t`, at or before its newest pruned logical time: its
        record went (its run most likely ran), so it is not run again unless --rerun."""
        return t not in self.recorded[job] and job in self.through and t <= self.through[job]


def _classify(
    config: Config,
    store: Store,
    jobs: list[str],
    times: list[datetime],
    tz: str,
    start: datetime,
    end: datetime,
    *,
    rerun: bool,
) -> list[PlanItem]:
    planned = set(jobs)
    outside = {u for n in jobs for u in config.jobs[n].after if u not in planned}
    recorded: dict[str, dict[datetime, Run]] = {}
    for name in [*jobs, *sorted(outside)]:
        runs = store.runs_between(name, start, end + _US)
        recorded[name] = {r.scheduled_for.astimezone(UTC): r for r in runs}
    known = _Known(recorded, outside, store.pruned_through([*jobs, *outside]))
    items: list[PlanItem] = []
    for t in times:
        held: dict[str, Action] = {}  # planned jobs blocked or pruned for t
        for name in jobs:
            run = recorded[name].get(t)
            if run is not None and run.status is RunStatus.SUCCEEDED and not rerun:
                items.append(PlanItem(name, t, Action.DONE, run, f"run {run.id}"))
            elif not rerun and known.pruned(name, t):
                held[name] = Action.PRUNED
                items.append(PlanItem(name, t, Action.PRUNED, None, PRUNED_DETAIL))
            elif why := _blocked(config.jobs[name].after, t, tz, held, known):
                held[name] = Action.BLOCKED
                items.append(PlanItem(name, t, Action.BLOCKED, run, why))
            else:
                items.append(PlanItem(name, t, Action.RUN, run, _run_detail(run)))
    return items


def _blocked(
    after: tuple[str, ...], t: datetime, tz: str, held: dict[str, Action], known: _Known
) -> str | None:
    """Why a job after the jobs `after` is blocked for `t`: a planned one is blocked or
    was pruned, or one outside the plan has no success for `t`."""
    from cronplus.lanes import no_success

    for u in after:
        if held.get(u) is Action.BLOCKED:
            return f'upstream job "{u}" is blocked'
        if held.get(u) is Action.PRUNED:
            return pruned_upstream(u, t, tz)
        if u in known.outside:
            up = known.recorded[u].get(t)
            if up is None and known.pruned(u, t):
                return pruned_upstream(u, t, tz)
            if up is None or up.status is not RunStatus.SUCCEEDED:
                return no_success(u, t, tz)
    return None


def pruned_upstream(upstream_job: str, t: datetime, tz: str) -> str:
    """Why a dependent does not run for `t`: its upstream job's run for it was pruned."""
    return (
        f'upstream job "{upstream_job}" has no run for {human_time(t, tz)}: its record was pruned'
    )


def _run_detail(run: Run | None) -> str | None:
    if run is None:
        return None
    if run.status.is_final:
        n = len(run.attempts)
        return f"run {run.id} again ({run.status}, {n} attempt{'s' * (n != 1)})"
    return f"run {run.id} is {run.status} in another cronplus process; wait"


def _left_out_text(n: int, capped: bool) -> str:
    if capped:
        return f"more than {n:,} fire times later than now were left out"
    if n == 1:
        return "1 fire time later than now was left out"
    return f"{n:,} fire times later than now were left out"


def left_out_text(plan: Plan) -> str | None:
    return _left_out_text(plan.left_out, plan.left_out_capped) if plan.left_out else None
