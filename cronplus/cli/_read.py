"""The commands that read: `status`, `history`, `logs`, `alerts`, `next`."""

from __future__ import annotations

import sys
from datetime import date
from typing import TYPE_CHECKING

import click

from cronplus.cli._group import (
    Context,
    json_option,
    limit_option,
    parse_after,
    parse_date,
    pass_ctx,
    warn,
)
from cronplus.clock import system_clock
from cronplus.errors import CronplusError, ExitCode, UnknownJobError, UsageError

if TYPE_CHECKING:
    from cronplus.model import Run
    from cronplus.store import Store


# -- status -------------------------------------------------------------------------------------


@click.command()
@click.argument("jobs", nargs=-1)
@click.option("--on", "on_date", metavar="DATE", help="Every fire time of DATE (YYYY-MM-DD).")
@click.option(
    "--problems", is_flag=True, help="With --on: only the fire times that did not succeed."
)
@click.option("--watch", is_flag=True, help="Show it again every second until Ctrl-C.")
@click.option("--daemons", is_flag=True, help="Only the live daemons on the state.")
@json_option()
@pass_ctx
def status(
    obj: Context,
    jobs: tuple[str, ...],
    on_date: str | None,
    problems: bool,
    watch: bool,
    daemons: bool,
    as_json: bool,
) -> None:
    """Did it run? Each job's last run, what is running, what is overdue, and the next
    fire time; with --on, every fire time of that date beside its run.

    With --daemons, only the daemons whose heartbeat is within their lease: host,
    pid, start, last heartbeat, attempts running.

    With --watch, the table, the runs going with their elapsed time, the last 24
    hours' failures, the daemon's pid and the time, again every second until Ctrl-C
    (exit 0); piped, a plain snapshot each second.

    Exits 1 when a job's latest finished run (or, with --on, a run of that date) ended
    failed, timed_out, upstream_failed or interrupted, when a fire time is overdue
    (passed more than start_grace ago with no run), or when a job's newest run is
    going with its process gone.

    \b
    Examples:
      cronplus status
      cronplus status load --on 2026-11-17 --problems
      cronplus status --watch
      cronplus status --daemons
    """
    from cronplus.cli._status import job_names, show_status

    if daemons:
        from cronplus.cli._daemons import show_daemons

        sys.exit(show_daemons(obj, jobs, on_date, problems or watch, as_json=as_json))

    names = job_names(obj, jobs)
    if watch:
        if on_date is not None or as_json:
            raise UsageError("--watch shows the status table; leave out --on and --json")
        from cronplus.cli._watch import watch as watch_status

        sys.exit(watch_status(obj, names))
    if problems and on_date is None:
        raise UsageError("--problems goes with --on DATE (e.g. status --on 2026-11-17 --problems)")
    if on_date is not None:
        day = parse_date(on_date, "--on")
        sys.exit(_status_on(obj, names, day, problems=problems, as_json=as_json))
    sys.exit(show_status(obj, names, chosen=bool(jobs), as_json=as_json))


def _status_on(
    obj: Context, names: list[str], day: date, *, problems: bool, as_json: bool
) -> ExitCode:
    """`status --on DAY`: each fire time of the day beside its run."""
    from cronplus import render, report
    from cronplus.intervals import Intervals

    store = obj.store()
    now = system_clock().now()
    reports = [report.day_report(obj.config, store, obj.config.jobs[n], day, now) for n in names]
    bad = any(r.is_bad for r in reports)
    if problems:
        reports = [r.problems_only() for r in reports]
    if as_json:
        render.print_json(render.day_json(reports, Intervals(obj.config)))
    else:
        render.print_day(reports, problems)
    return ExitCode.NOT_SUCCEEDED if bad else ExitCode.OK


# -- history, logs ----------------------------------------------------------------------------


@click.command()
@click.argument("jobs", nargs=-1)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    metavar="S",
    help="Only runs of this status (repeat or S,S).",
)
@click.option(
    "--trigger",
    "triggers",
    multiple=True,
    metavar="T",
    help="Only runs of this trigger (repeat or T,T).",
)
@click.option(
    "--since", metavar="WHEN", help="Logical time from: a date, ISO date-time or 24h, 7d."
)
@click.option("--until", metavar="WHEN", help="Logical time before (exclusive), as --since.")
@limit_option("runs")
@json_option()
@pass_ctx
def history(
    obj: Context,
    jobs: tuple[str, ...],
    statuses: tuple[str, ...],
    triggers: tuple[str, ...],
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Runs of the JOBs named, else of every job, newest logical time first.

    A job removed from the file keeps its history (name it to see it). A date in
    --since or --until is that day in each job's time zone; --limit counts after
    the filters.

    \b
    Examples:
      cronplus history load --limit 5
      cronplus history --status failed,timed_out --since 7d
      cronplus history extract load --trigger backfill --since 2026-11-01 --until 2026-11-08
    """
    from cronplus import render, report
    from cronplus.cli._when import parse_when, parse_words
    from cronplus.intervals import Intervals
    from cronplus.model import RunStatus, Trigger

    wanted = (
        parse_words(statuses, RunStatus, "--status"),
        parse_words(triggers, Trigger, "--trigger"),
    )
    zones = _history_zones(obj, jobs)
    now = system_clock().now()
    bounds = {
        job: (
            since and parse_when(since, tz, "--since", now),
            until and parse_when(until, tz, "--until", now),
        )
        for job, tz in zones.items()
    }
    from cronplus.reading import with_items

    store = obj.store()
    runs = store.history_of(bounds, limit, statuses=wanted[0], triggers=wanted[1])
    runs = with_items(store, runs, obj.config)  # issue 16: a for_each run's items
    states = [report.going_state(store, r, obj.config.jobs.get(r.job), now) for r in runs]
    if as_json:
        render.print_json(render.history_json(runs, zones, states, Intervals(obj.config)))
    else:
        render.print_history(runs, zones, states, by_job=len(jobs) != 1)


def _history_zones(obj: Context, jobs: tuple[str, ...]) -> dict[str, str]:
    """Each job `history` reads and its zone: every job of the file when none is named;
    a named job removed from the file counts (in UTC) while it has history."""
    obj.read_config()
    if not jobs:
        return {name: job.timezone for name, job in obj.config.jobs.items()}
    zones: dict[str, str] = {}
    store = obj.store()
    for name in dict.fromkeys(jobs):
        if name in obj.config.jobs:
            zones[name] = obj.config.jobs[name].timezone
        elif store.latest_run(name) is not None:
            zones[name] = "UTC"
        else:
            raise UnknownJobError(name, obj.config.jobs)
    return zones


@click.command()
@click.argument("job")
@click.option("--run", "run_id", type=int, metavar="ID", help="A run id (default: latest).")
@click.option("--attempt", type=click.IntRange(min=1), metavar="N", help="Default: the last.")
@click.option(
    "-f",
    "--follow",
    is_flag=True,
    help="Go on printing until the run ends (exit 1 unless it succeeded).",
)
@click.option("--item", type=click.IntRange(min=0), metavar="N", help="A for_each item's index.")
@pass_ctx
def logs(
    obj: Context, job: str, run_id: int | None, attempt: int | None, follow: bool, item: int | None
) -> None:
    """Print the output a run's attempt captured (latest run and attempt by default).

    With -f, the output so far, then as it comes until the run ends (the run going,
    else the next one if the job has no output yet), `--- attempt N ---` before each
    later attempt; exit 0 if the run succeeded, 1 if not, 130 on Ctrl-C.

    \b
    Examples:
      cronplus logs load --run 41 --attempt 2
      cronplus logs load -f
      cronplus logs tables --run 41 --item 3
    """
    from cronplus import render

    obj.read_config()
    store = obj.store()
    if job not in obj.config.jobs and store.latest_run(job) is None:
        raise UnknownJobError(job, obj.config.jobs)
    if follow:
        if attempt is not None:
            raise UsageError("-f follows a run's attempts as they come; leave out --attempt")
        from cronplus.cli._follow import follow_logs

        sys.exit(follow_logs(store, job, run_id))
    if item is None:  # issue 17: the output the state keeps, for a log not on this host
        from cronplus.cli._tail import print_attempt_log

        chosen, number = _chosen_attempt(store, job, run_id, attempt)
        print_attempt_log(store, chosen.id, chosen.attempts[number - 1])
        return
    from cronplus.cli._items import item_log

    path, what = item_log(store, job, run_id, item, attempt)
    try:
        render.print_log(path or "")
    except FileNotFoundError:
        raise CronplusError(f"the log of {what} is gone ({path})") from None


def _chosen_attempt(
    store: Store, job: str, run_id: int | None, attempt: int | None
) -> tuple[Run, int]:
    """The run (`run_id`, else the newest with output) and attempt number `logs` shows;
    one run read, however long the job's history (issue 12)."""
    if run_id is not None:
        chosen = store.get_run(run_id)
        if chosen is None or chosen.job != job:
            raise UsageError(f'job "{job}" has no run {run_id} (see: cronplus history {job})')
    else:
        chosen = store.latest_started(job)
        if chosen is None:
            raise CronplusError(f'job "{job}" has no run with output yet')
    if not chosen.attempts:
        raise CronplusError(
            f"run {chosen.id} of {job} never started ({chosen.status}: {chosen.reason})"
        )
    number = attempt or len(chosen.attempts)
    if number > len(chosen.attempts):
        raise UsageError(f"run {chosen.id} has {len(chosen.attempts)} attempt(s), not {number}")
    return chosen, number


# -- alerts -------------------------------------------------------------------------------------


@click.command()
@limit_option("alerts")
@json_option()
@pass_ctx
def alerts(obj: Context, limit: int, as_json: bool) -> None:
    """Recent alerts and whether each channel took them: was anyone told?

    \b
    Example:
      cronplus alerts --limit 5
    """
    from cronplus import render

    obj.read_config()
    records = obj.store().recent_alerts(limit)
    if as_json:
        render.print_json(render.alerts_json(records, obj.config.jobs))
    else:
        render.print_alerts(records, obj.config.jobs)


# -- next ---------------------------------------------------------------------------------------


_MAX_NEXT = 10_000  # fire times per job: a bound on memory, not a guess at what is wanted


@click.command(name="next")
@click.argument("job", required=False)
@click.option(
    "-n",
    "count",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help=f"How many fire times per job (at most {_MAX_NEXT:,}).",
)
@click.option(
    "--after",
    "after",
    metavar="ISO_DATETIME",
    help="List fire times strictly after this (default: now).",
)
@json_option()
@pass_ctx
def next_(obj: Context, job: str | None, count: int, after: str | None, as_json: bool) -> None:
    """Upcoming fire times, in each job's time zone.

    \b
    Examples:
      cronplus next
      cronplus next load -n 3 --after 2026-03-29T00:00
    """
    from cronplus import render, report

    if count > _MAX_NEXT:
        warn(f"Note: -n {count} is more than {_MAX_NEXT:,}; listing {_MAX_NEXT:,}")
        count = _MAX_NEXT
    obj.read_config()
    jobs = [obj.job(job)] if job else list(obj.config.jobs.values())
    upcoming = []
    for j in jobs:
        start = parse_after(after, j.timezone) if after else system_clock().now()
        upcoming.append((j, report.upcoming(obj.config, j, start, count)))
    if as_json:
        render.print_json(render.next_json(upcoming))
    else:
        render.print_next(upcoming)


COMMANDS = (status, history, logs, alerts, next_)
