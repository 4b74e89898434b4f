"""The commands that act: `run`, `validate`, `trigger`, `mark`, `backfill`,
`alert-test`, `pause`, `resume`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from cronplus.cli._group import Context, json_option, parse_after, pass_ctx, warn
from cronplus.clock import system_clock
from cronplus.errors import ConfigError, ExitCode, UsageError

if TYPE_CHECKING:
    from cronplus.backfill import Plan
    from cronplus.store import Store


# -- run ----------------------------------------------------------------------------------------


@click.command()
@click.option(
    "--web",
    "web",
    metavar="[HOST:]PORT",
    help="Also serve cronplus web there (host 127.0.0.1 unless given), from a child process.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Also serve `cronplus metrics` at http://HOST:PORT/metrics (Prometheus).",
)
@click.option(
    "--metrics-host",
    metavar="HOST",
    help="The address --metrics-port listens on (default 127.0.0.1).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="The log on stderr: key=value lines, or one JSON object per line.",
)
@pass_ctx
def run(
    obj: Context,
    web: str | None,
    metrics_port: int | None,
    metrics_host: str | None,
    log_format: str,
) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C.

    It sleeps until the next fire time, runs the due jobs and records every run in
    the state. SIGTERM or Ctrl-C stop it: running jobs get kill_grace, and what was
    cut short runs again at the next start. SIGHUP (or saving the jobs file) reads
    the jobs file again; a file with problems is logged and the running
    configuration goes on.

    The log is one line per event on stderr (redirect it, or let systemd's journal
    keep it); each attempt's output goes to the state's logs/ folder (cronplus logs
    JOB). One daemon per state directory.

    With --web, a child process serves `cronplus web` (restarted if it exits, stopped
    with the daemon); its serving line goes to stdout.

    With --metrics-port, a thread of the daemon answers GET /metrics with what
    `cronplus metrics` prints, without authentication (the log's event=metrics_started
    line gives its URL).

    As a service, under systemd: `cronplus service --systemd` prints the unit
    (Type=notify, with a watchdog fed from the loop;
    ExecReload=/bin/kill -HUP $MAINPID).

    \b
    Example:
      cronplus -c jobs.toml run 2>>cronplus.log
    """
    from cronplus.daemon import run_daemon
    from cronplus.events import log_to_stderr

    address = None
    if web is not None:
        from cronplus.web import check_exposure, parse_address, read_token

        address = parse_address(web)
        check_exposure(address[0], read_token(None), "--web")
    metrics = None
    if metrics_port is not None:
        from cronplus import render

        metrics = (metrics_host or "127.0.0.1", metrics_port, render.metrics_text)
    elif metrics_host is not None:
        raise UsageError("--metrics-host goes with --metrics-port PORT")
    config = obj.config
    obj.alert_env(strict=True)
    log_to_stderr(log_format)
    run_daemon(config, obj.paths, display_path=obj.config_path, web=address, metrics=metrics)


# -- validate -----------------------------------------------------------------------------------


@click.command()
@pass_ctx
def validate(obj: Context) -> None:
    """Check the jobs file and print every problem, one per line (exit 2 if any).

    \b
    Example:
      cronplus -c jobs.toml validate
    """
    from dataclasses import replace

    from cronplus import render
    from cronplus.config import alert_env_warnings, alert_values, schedule_notes
    from cronplus.delivery import unusable_urls

    config = obj.config
    unreadable, unset = alert_env_warnings(config, obj.config_path)
    if unreadable is not None:  # an env_file that cannot be read
        raise ConfigError([unreadable], unreadable.file)
    # All at once: a variable not set, and URLs that cannot work once expanded.
    problems = unset + unusable_urls(config, alert_values(config))
    if problems:
        raise ConfigError([replace(p, file=obj.config_path) for p in problems], obj.config_path)
    for note in schedule_notes(config, obj.config_path):
        warn(str(note))
    if not config.jobs:  # valid, but most likely not what was meant (a typo in [jobs.NAME]?)
        warn(f"Warning: {obj.config_path} has no jobs (add a [jobs.NAME] table)")
    click.echo(render.validate_line(obj.config_path, config))


# -- trigger ------------------------------------------------------------------------------------


@click.command()
@click.argument("job")
@click.option("--wait", is_flag=True, help="Run in the foreground; exit 1 unless all succeeded.")
@click.option("--file", "file", metavar="PATH", help="A run for this file (a watch job's).")
@pass_ctx
def trigger(obj: Context, job: str, wait: bool, file: str | None) -> None:
    """Run a job now (and then its downstream jobs), with or without a daemon.

    Without --wait it runs in a detached process and prints the run id.

    \b
    Examples:
      cronplus trigger load --wait
      cronplus trigger report
      cronplus trigger load --file incoming/2026-12-04.csv --wait
    """
    from cronplus import render
    from cronplus.events import log_to_stderr
    from cronplus.trigger import DetachedStartError, file_version, start_detached, trigger_now

    obj.job(job)
    if file is not None:
        file = file_version(file).path  # checked here; absolute for a detached one
    if not wait:
        try:
            click.echo(start_detached(obj.config_path, obj.paths, job, file))
        except DetachedStartError as e:
            click.echo(e.output, err=True)
            sys.exit(e.exit_code)
        return
    log_to_stderr()
    store = obj.store(create=True)
    alerter = obj.alerter(store, strict=False)
    triggered = trigger_now(obj.config, store, obj.paths, job, alerter=alerter, file=file)
    render.print_lines(render.trigger_lines(triggered, obj.config))
    sys.exit(ExitCode.OK if triggered.ok else ExitCode.NOT_SUCCEEDED)


# -- mark ---------------------------------------------------------------------------------------


@click.command()
@click.argument("job")
@click.argument("status", type=click.Choice(["succeeded", "skipped"]))
@click.option(
    "--at",
    "at",
    required=True,
    metavar="LOGICAL_TIME",
    help="The run's logical time, ISO (read in the job's zone when it has no offset).",
)
@click.option("--reason", metavar="TEXT", help='Why (default "marked by hand").')
@click.option(
    "--release",
    is_flag=True,
    help="With succeeded: run the jobs after it now, for that logical time.",
)
@pass_ctx
def mark(obj: Context, job: str, status: str, at: str, reason: str | None, release: bool) -> None:
    """Record a run's outcome by hand: JOB at --at as succeeded or skipped.

    A new run (trigger manual, no attempts), or over a recorded run that did not
    succeed, which keeps its id, trigger and attempts. The reason is kept in its
    history. --release then runs the jobs after it, as trigger would.

    \b
    Examples:
      cronplus mark extract succeeded --at 2026-12-04T03:00 --reason "loaded by hand"
      cronplus mark extract succeeded --at 2026-12-04T03:00 --release
    """
    import signal

    from cronplus import render
    from cronplus.events import log_to_stderr
    from cronplus.manual import mark_run
    from cronplus.model import RunStatus

    spec = obj.job(job)
    if release and status != "succeeded":
        raise UsageError("--release goes with succeeded: nothing runs after a skipped run")
    when = parse_after(at, spec.timezone, "--at")
    store = obj.store(create=True)
    log_to_stderr()
    alerter = obj.alerter(store, strict=False)
    marked, released = mark_run(
        obj.config,
        store,
        obj.paths,
        job,
        when,
        RunStatus(status),
        reason or "marked by hand",
        release=release,
        alerter=alerter,
        install_signals=(signal.SIGTERM, signal.SIGINT),
    )
    alerter.flush()
    render.print_lines(render.mark_lines(marked, released, obj.config))
    sys.exit(ExitCode.NOT_SUCCEEDED if any(r.status.is_bad for r in released) else ExitCode.OK)


# -- backfill -----------------------------------------------------------------------------------


@click.command()
@click.argument("job")
@click.option("--from", "from_", required=True, metavar="DATE", help="First day, or ISO date-time.")
@click.option("--to", "to", required=True, metavar="DATE", help="Last day, inclusive.")
@click.option("--only", is_flag=True, help="JOB alone, not the jobs after it.")
@click.option("--with-upstream", is_flag=True, help="Also run the jobs JOB is after.")
@click.option("--rerun", is_flag=True, help="Run already-succeeded runs again too.")
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    metavar="N",
    help="Logical times at once, oldest first.",
)
@click.option("--dry-run", is_flag=True, help="Print the plan; execute and record nothing.")
@json_option("Print JSON at the end.")
@click.option("--yes", is_flag=True, help="Allow more than 100,000 planned runs.")
@pass_ctx
def backfill(
    obj: Context,
    job: str,
    from_: str,
    to: str,
    only: bool,
    with_upstream: bool,
    rerun: bool,
    parallel: int,
    dry_run: bool,
    as_json: bool,
    yes: bool,
) -> None:
    """Run every fire time of JOB from --from to --to again, then the jobs after it.

    A date is that whole day in the job's time zone. A (job, logical time) that
    succeeded already is not run again (unless --rerun); any other recorded run is
    run again as new attempts of the same run. Interrupted, the same command
    finishes only what is missing.

    \b
    Examples:
      cronplus backfill extract --from 2026-11-01 --to 2026-11-14
      cronplus backfill extract --from 2026-11-01 --to 2026-11-14 --dry-run
      cronplus backfill load --from 2026-11-01T00:00 --to 2026-11-01T12:00 --only
    """
    from cronplus.backfill import plan_backfill

    obj.job(job)
    # Planning writes nothing, so bad input or a dry run leave no state behind.
    existed = obj.paths.db.exists()
    store = obj.store(create=existed and not dry_run)
    now = system_clock().now()
    plan = plan_backfill(
        obj.config,
        store,
        job,
        from_,
        to,
        now=now,
        only=only,
        with_upstream=with_upstream,
        rerun=rerun,
        yes=yes,
    )
    if dry_run:
        sys.exit(_dry_run(plan, as_json))
    if not existed:
        store.close()
        store = obj.store(create=True)
    sys.exit(_run_backfill(obj, store, plan, parallel, as_json))


def _dry_run(plan: Plan, as_json: bool) -> ExitCode:
    """The plan on stdout, its counts on stderr; exits 1 as a real run would, when a
    blocked (job, time) would end upstream_failed."""
    from cronplus import render
    from cronplus.backfill import Action

    if as_json:
        render.print_json(render.plan_json(plan))
    else:
        render.print_plan(plan)
    for line in render.plan_summary(plan):
        warn(line)
    blocked = any(i.action is Action.BLOCKED for i in plan.items)
    return ExitCode.NOT_SUCCEEDED if blocked else ExitCode.OK


def _run_backfill(obj: Context, store: Store, plan: Plan, parallel: int, as_json: bool) -> ExitCode:
    import signal

    from cronplus import render
    from cronplus._backfill_run import run_backfill
    from cronplus.backfill_alert import backfill_summary_alert

    progress = render.BackfillProgress(plan)
    alerter = obj.alerter(store, strict=False)
    try:
        result = run_backfill(
            plan,
            obj.config,
            store,
            obj.paths,
            parallel=parallel,
            on_settled=progress.settled,
            install_signals=(signal.SIGTERM, signal.SIGINT),
        )
    finally:
        progress.close()
    backfill_summary_alert(alerter, result)
    if as_json:
        from cronplus.intervals import Intervals
        from cronplus.reading import settled_with_items

        result = settled_with_items(store, result, obj.config)  # issue 16: items
        render.print_json(render.backfill_json(result, Intervals(obj.config)))
    else:
        render.print_backfill(result)
    if result.interrupted:
        warn(render.interrupted_note(result))
    return ExitCode.OK if result.ok else ExitCode.NOT_SUCCEEDED


@click.command(name="alert-test")
@click.argument("job", required=False)
@pass_ctx
def alert_test(obj: Context, job: str | None) -> None:
    """Send a test message through the alert channels (JOB's, or [alerts]').

    Prints each channel (scheme, host and port only) and whether it took the message;
    exits 1 if any did not.

    \b
    Example:
      cronplus alert-test load
    """
    from cronplus import render

    target = obj.job(job) if job else None
    store = obj.store(create=True)
    results = obj.alerter(store, strict=True).test(target)
    if not results:
        who = f'job "{job}"' if job else "[alerts]"
        raise UsageError(f"{who} has no alert URLs to test (set urls in [alerts])")
    for channel, error in results:
        click.echo(render.alert_test_line(channel, error))
    sys.exit(ExitCode.OK if all(e is None for _, e in results) else ExitCode.NOT_SUCCEEDED)


# -- pause, resume -------------------------------------------------------------------------------


@click.command()
@click.argument("jobs", nargs=-1, required=True)
@pass_ctx
def pause(obj: Context, jobs: tuple[str, ...]) -> None:
    """Stop scheduling jobs until resumed; their fire times are recorded skipped.

    A running daemon applies it from the next fire time on. A paused job does not
    alert as missed, its skipped fire times are not caught up on resume, and it can
    still be triggered or backfilled by hand.

    \b
    Example:
      cronplus pause load
    """
    from cronplus import render

    names = [obj.job(n).name for n in jobs]
    store = obj.store(create=True)
    now = system_clock().now()
    for name in names:
        click.echo(render.pause_line(name, store.pause(name, now)))


@click.command()
@click.argument("jobs", nargs=-1, required=True)
@pass_ctx
def resume(obj: Context, jobs: tuple[str, ...]) -> None:
    """Schedule paused jobs again, from their next fire time (nothing is caught up).

    \b
    Example:
      cronplus resume load
    """
    from cronplus import render

    names = [obj.job(n).name for n in jobs]
    store = obj.store(create=True)
    for name in names:
        click.echo(render.resume_line(name, store.unpause(name)))


COMMANDS = (run, validate, trigger, mark, backfill, alert_test, pause, resume)
