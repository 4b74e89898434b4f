"""The `cronplus` command: parse options, call the library, render, map errors to exit codes.

Only click and light stdlib modules are imported here at start-up; every command
imports what it needs in its body, so a piped `status` never pays for rich,
croniter, apprise or filelock.
"""

from __future__ import annotations

import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cronplus.clock import system_clock
from cronplus.errors import (
    ConfigError,
    CronplusError,
    ExitCode,
    UnknownJobError,
    UsageError,
)

if TYPE_CHECKING:
    from cronplus.alerts import Alerter
    from cronplus.model import Config, Job, Run
    from cronplus.paths import StatePaths
    from cronplus.store import Store


class CronplusGroup(click.Group):
    """Turns every CronplusError into its message on stderr and its exit code."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, each with its first sentence whole (click cuts it at the
        terminal's width with "..."), wrapped under the command instead."""
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            rows.append((name, _first_sentence(cmd.help or "")))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as e:
            click.echo(str(e), err=True)
            ctx.exit(e.exit_code)
        except CronplusError as e:
            click.echo(f"Error: {e}", err=True)
            ctx.exit(e.exit_code)
        except BrokenPipeError:
            # `cronplus logs JOB | head`: the reader left; that is not an error.
            sys.stderr.close()
            ctx.exit(ExitCode.OK)


def _first_sentence(text: str) -> str:
    """The help's first paragraph up to its first full stop, on one line."""
    paragraph = " ".join(text.strip().split("\n\n", 1)[0].split())
    end = paragraph.find(". ")
    return paragraph if end < 0 else paragraph[: end + 1]


class Context:
    """The global options, and the jobs file and state loaded once on demand."""

    def __init__(self, config_path: str, state: str | None) -> None:
        self.config_path = config_path
        self.state_option = state
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from cronplus.config import load_config

            self._config = load_config(Path(self.config_path), display_path=self.config_path)
        return self._config

    def read_config(self) -> Config:
        """For commands that only read (status, history, logs, alerts, next): the jobs
        file; while it has problems, the configuration the daemon last ran from it,
        else the jobs that can be read, with a one-line warning on stderr. A file that
        cannot be read or parsed, with no daemon's copy to fall back on, is refused as
        before (a mistyped -c must not look like a quiet system). `run`, `trigger` and
        `backfill` always refuse (they use `config`)."""
        if self._config is not None:
            return self._config
        from dataclasses import replace

        from cronplus.config import readable_jobs
        from cronplus.model import Config

        try:
            return self.config
        except ConfigError as e:
            error = e
        path = Path(self.config_path)
        readable = readable_jobs(path, self.config_path)
        # The state is where the file says, as far as it can be read (else the default).
        self._config = readable or Config(path=path.absolute(), jobs={})
        recorded = self._recorded_config()
        if recorded is not None:
            self._config = replace(recorded, state=self._config.state)
            how = "the configuration the daemon last ran from it"
        elif readable is None:
            self._config = None
            raise error
        else:
            how = f"the {len(readable.jobs)} job(s) that can be read"
        n = len(error.problems)
        click.echo(
            f"Warning: {self.config_path} has {n} problem{'s' * (n != 1)} (the first: "
            f"{error.problems[0]}; cronplus validate lists them); showing {how}",
            err=True,
        )
        return self._config

    def _recorded_config(self) -> Config | None:
        """The configuration the daemon last ran from this file, kept in the state."""
        import json

        from cronplus.config import load_config_text
        from cronplus.errors import StateError
        from cronplus.store import open_store

        assert self._config is not None
        try:
            store = open_store(self.paths, create=False)
            try:
                recorded = store.get_meta("config")
            finally:
                store.close()
            saved = json.loads(recorded) if recorded else None
        except (StateError, ValueError):
            return None
        if not isinstance(saved, dict) or saved.get("path") != str(self._config.path):
            return None
        try:
            return load_config_text(str(saved.get("text")), self._config.path, self.config_path)
        except ConfigError:
            return None

    @property
    def paths(self) -> StatePaths:
        from cronplus.paths import resolve_state_dir

        return resolve_state_dir(self.state_option, self.config.state, self.config.folder)

    def store(self, *, create: bool = False) -> Store:
        from cronplus.store import open_store

        return open_store(self.paths, create=create)

    def alerter(self, store: Store, *, strict: bool) -> Alerter:
        """Alerts as the jobs file sets them. A `${NAME}` nobody set is an error when
        `strict` (run, validate, alert-test); elsewhere that URL is skipped with a warning."""
        from cronplus.alerts import Alerter

        env = self.alert_env(strict=strict)
        return Alerter(self.config, store, env=env, warn_missing=False)

    def alert_env(self, *, strict: bool) -> dict[str, str]:
        from dataclasses import replace

        from cronplus.alerts import alert_env, missing_variables

        try:
            env = alert_env(self.config)
        except ConfigError as e:  # an env_file that cannot be read
            if strict:
                raise
            click.echo(f"Warning: {e.problems[0]}; alerts go without its variables", err=True)
            env = dict(os.environ)
        problems = [replace(p, file=self.config_path) for p in missing_variables(self.config, env)]
        if problems and strict:
            raise ConfigError(problems, self.config_path)
        for problem in problems:
            click.echo(f"Warning: {problem}; alerts skip that URL", err=True)
        return env

    def job(self, name: str) -> Job:
        if name not in self.config.jobs:
            raise UnknownJobError(name, self.config.jobs)
        return self.config.jobs[name]


pass_ctx = click.make_pass_decorator(Context)


@click.group(cls=CronplusGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_path",
    default="jobs.toml",
    envvar="CRONPLUS_CONFIG",
    show_default=True,
    metavar="PATH",
    help="The jobs file (env CRONPLUS_CONFIG).",
)
@click.option(
    "--state",
    metavar="DIR",
    help="State directory (env CRONPLUS_STATE; default [defaults].state, else .cronplus/ "
    "beside the jobs file).",
)
@click.version_option(package_name="cronplus", message="cronplus %(version)s")
@click.pass_context
def cli(ctx: click.Context, config_path: str, state: str | None) -> None:
    """cronplus: cron with history, dependencies, retries and an answer to "did it run?".

    \b
    Example:
      cronplus -c examples/jobs.toml run      # the daemon
      cronplus -c examples/jobs.toml status   # did it run?
    """
    ctx.obj = Context(config_path, state)


def main() -> None:
    cli(prog_name="cronplus")


# -- run ----------------------------------------------------------------------------------------


@cli.command()
@pass_ctx
def run(obj: Context) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C.

    It sleeps until the next fire time, runs the due jobs and records every run in
    the state. SIGTERM or Ctrl-C stop it: running jobs get kill_grace, and what was
    cut short runs again at the next start. SIGHUP (or saving the jobs file) reads
    the jobs file again; a file with problems is logged and the running
    configuration goes on.

    The log is one line per event on stderr (redirect it, or let systemd's journal
    keep it); each attempt's output goes to the state's logs/ folder (cronplus logs
    JOB). One daemon per state directory.

    As a service, under systemd: a unit with Type=simple,
    ExecStart=/path/to/cronplus -c /etc/cronplus/jobs.toml run,
    ExecReload=/bin/kill -HUP $MAINPID and Restart=on-failure (the README has one).

    \b
    Example:
      cronplus -c jobs.toml run 2>>cronplus.log
    """
    from cronplus.daemon import run_daemon
    from cronplus.events import log_to_stderr

    config = obj.config
    obj.alert_env(strict=True)
    log_to_stderr()
    run_daemon(config, obj.paths, display_path=obj.config_path)


# -- validate -----------------------------------------------------------------------------------


@cli.command()
@pass_ctx
def validate(obj: Context) -> None:
    """Check the jobs file and print every problem, one per line (exit 2 if any).

    \b
    Example:
      cronplus -c jobs.toml validate
    """
    from dataclasses import replace

    from cronplus.alerts import alert_env, missing_variables, unusable_urls

    config = obj.config
    env = alert_env(config)  # an env_file that cannot be read is a ConfigError
    # All at once: a variable not set, and URLs that cannot work once expanded.
    problems = missing_variables(config, env) + unusable_urls(config, env)
    if problems:
        raise ConfigError([replace(p, file=obj.config_path) for p in problems], obj.config_path)
    n = len(config.jobs)
    if not n:  # valid, but most likely not what was meant (a typo in [jobs.NAME]?)
        click.echo(f"Warning: {obj.config_path} has no jobs (add a [jobs.NAME] table)", err=True)
    click.echo(f"{obj.config_path}: {n} job{'s' if n != 1 else ''}, no problems")


# -- status -------------------------------------------------------------------------------------


@cli.command()
@click.argument("jobs", nargs=-1)
@click.option("--on", "on_date", metavar="DATE", help="Every fire time of DATE (YYYY-MM-DD).")
@click.option(
    "--problems", is_flag=True, help="With --on: only the fire times that did not succeed."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def status(
    obj: Context, jobs: tuple[str, ...], on_date: str | None, problems: bool, as_json: bool
) -> None:
    """Did it run? Each job's last run, what is running, what is overdue, and the next
    fire time; with --on, every fire time of that date beside its run.

    Exits 1 when a job's latest finished run (or, with --on, a run of that date) ended
    failed, timed_out, upstream_failed or interrupted, when a fire time is overdue
    (passed more than start_grace ago with no run), or when a job's newest run is
    going with its process gone.

    \b
    Examples:
      cronplus status
      cronplus status load --on 2026-11-17 --problems
    """
    from cronplus import report
    from cronplus.paths import read_daemon_pid

    obj.read_config()
    names = [obj.job(n).name for n in jobs] or list(obj.config.jobs)
    if problems and on_date is None:
        raise UsageError("--problems goes with --on DATE (e.g. status --on 2026-11-17 --problems)")
    day = _parse_date(on_date, "--on") if on_date is not None else None
    store = obj.store()
    now = system_clock().now()
    if day is not None:
        reports = [
            report.day_report(obj.config, store, obj.config.jobs[n], day, now) for n in names
        ]
        bad = any(r.is_bad for r in reports)
        if problems:
            reports = [r.problems_only() for r in reports]
        _print_day(reports, as_json, problems)
    else:
        rows = report.job_statuses(obj.config, store, names, now)
        if as_json:
            from cronplus import render

            render.print_json([_status_json(r) for r in rows])
        else:
            _print_status(rows, read_daemon_pid(obj.paths), obj.paths.root, now, bool(jobs))
        bad = any(r.is_bad for r in rows)
    sys.exit(ExitCode.NOT_SUCCEEDED if bad else ExitCode.OK)


def _run_json(run: Run, tz: str, state: Any) -> dict[str, Any]:
    from cronplus import render

    return render.run_json(run, tz, orphaned=state.orphaned, late=state.late)


def _status_json(row: Any) -> dict[str, Any]:
    from cronplus import render

    tz = row.job.timezone
    last = row.last_run
    return {
        "job": row.job.name,
        "description": row.job.description,
        "schedule": row.schedule,
        "timezone": tz,
        "enabled": row.job.enabled,
        "paused_since": render.iso(row.paused_since, tz),
        "last_run": _run_json(last, tz, row.state_of(last)) if last else None,
        "running": [_run_json(r, tz, g) for r, g in row.going],
        "overdue": render.iso(row.overdue, tz),
        "next_run": render.iso(row.next_run, tz),
    }


def _going_word(run: Run, state: Any) -> str:
    from cronplus import render

    return render.run_word(run, orphaned=state.orphaned, late=state.late, elapsed_s=state.elapsed_s)


def _print_status(
    rows: list[Any], daemon_pid: int | None, state: Path, now: datetime, chosen: bool
) -> None:
    """One row per job. Piped: full ISO times with offsets, every column. On a
    terminal: local times (no date when today's), the zone under the schedule, and no
    ATTEMPTS or FINISHED column, so that a 100-column terminal shows it without
    cutting a status word or a time in two (else it falls back to plain columns)."""
    from cronplus import render

    terminal = render.is_terminal()

    def when(t: datetime | None, tz: str) -> str:
        return render.short_time(t, tz, now) if terminal else render.human_time(t, tz)

    table = []
    notes = []
    for r in rows:
        tz = r.job.timezone
        last = r.last_run
        schedule = r.schedule or "(triggered only)"
        if r.job.after:
            schedule = f"after {', '.join(r.job.after)}"
        word = _going_word(last, r.state_of(last)) if last else "never run"
        name = (
            r.job.name
            + ("" if r.job.enabled else " (disabled)")
            + (" (paused)" if r.paused_since else "")
        )
        nxt = when(r.next_run, tz)
        if r.paused_since:
            nxt = f"paused since{chr(10) if terminal else ' '}{when(r.paused_since, tz)}"
        if terminal:
            # The zone under the schedule, and what follows a status word on a line of
            # its own: nothing a reader scans for is ever cut in two.
            word = word.replace(" (", "\n(", 1).replace(" for ", "\nfor ", 1)
            duration = render.duration(last.duration_s) if last else "-"
            table.append(
                [
                    name,
                    f"{schedule}\n{tz}",
                    when(last and last.scheduled_for, tz),
                    word,
                    duration,
                    nxt,
                ]
            )
        else:
            table.append(
                [
                    name,
                    schedule,
                    tz,
                    when(last.scheduled_for, tz) if last else "-",
                    word,
                    str(len(last.attempts)) if last else "-",
                    render.duration(last.duration_s) if last else "-",
                    when(last.finished_at, tz) if last else "-",
                    nxt,
                ]
            )
        name = r.job.name
        if chosen and r.job.description:
            notes.append(f"{name}: {r.job.description}")
        if r.overdue is not None:
            notes.append(f"{name}: overdue: {render.human_time(r.overdue, tz)} has no run")
        for run, g in r.going:
            if last is not None and run.id == last.id:
                continue
            notes.append(
                f"{name}: {_going_word(run, g)}: run {run.id} ({run.trigger}), logical time "
                f"{render.human_time(run.scheduled_for, tz)}"
            )
    if terminal:
        headers = ["JOB", "SCHEDULE, ZONE", "LAST RUN", "STATUS", "TOOK", "NEXT"]
        render.print_table(headers, table, status_column=3, whole=[2, 3, 5])
    else:
        headers = [
            "JOB",
            "SCHEDULE",
            "TIMEZONE",
            "LAST RUN",
            "STATUS",
            "ATTEMPTS",
            "DURATION",
            "FINISHED",
            "NEXT",
        ]
        render.print_table(headers, table, status_column=4)
    for note in notes:
        render.print_line(note)
    if daemon_pid is None:
        render.print_line(f"daemon: not running (state {state})")
    else:
        pid = f"pid {daemon_pid}" if daemon_pid else "pid unknown"
        render.print_line(f"daemon: running, {pid} (state {state})")


def _print_day(reports: list[Any], as_json: bool, problems: bool = False) -> None:
    from cronplus import render

    if as_json:
        render.print_json(
            [
                {
                    "job": r.job.name,
                    "date": r.day.isoformat(),
                    "fire_times": [render.iso(s.fire_time, r.job.timezone) for s in r.slots],
                    "runs": [_run_json(run, r.job.timezone, r.state_of(run)) for run in r.runs],
                    "no_run": [render.iso(t, r.job.timezone) for t in r.no_run],
                }
                for r in reports
            ]
        )
        return
    rows = []
    for r in reports:
        tz = r.job.timezone
        lines: list[tuple[datetime, list[str]]] = []
        for s in r.slots:
            if s.run is None:
                word = "no run" if s.due else "not yet due"
                lines.append(
                    (
                        s.fire_time,
                        [r.job.name, render.human_time(s.fire_time, tz), word, "-", "-", "-", "-"],
                    )
                )
            else:
                lines.append((s.fire_time, _day_row(r, s.run)))
        for run in r.other_runs:
            lines.append((run.scheduled_for, _day_row(r, run)))
        rows.extend(row for _, row in sorted(lines, key=lambda x: x[0]))
        if not lines and not problems:
            rows.append([r.job.name, r.day.isoformat(), "no fire times", "-", "-", "-", "-"])
    render.print_table(
        ["JOB", "TIME", "STATUS", "TRIGGER", "RUN", "ATTEMPTS", "REASON"],
        rows,
        status_column=2,
        whole=[1],
    )


def _day_row(r: Any, run: Run) -> list[str]:
    from cronplus import render

    return [
        r.job.name,
        render.human_time(run.scheduled_for, r.job.timezone),
        _going_word(run, r.state_of(run)),
        str(run.trigger),
        str(run.id),
        str(len(run.attempts)),
        run.reason or "",
    ]


def _parse_date(text: str, option: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f'{option} "{text}" is not a date (use YYYY-MM-DD)') from None
    _check_year(day.year, text, option)
    return day


def _check_year(year: int, text: str, option: str) -> None:
    """Times near the calendar's ends cannot be shifted into every zone: the commands
    take the years backfill takes."""
    if not 2 <= year <= 9998:
        raise UsageError(f'{option} "{text}" is out of range (years 2 to 9998)')


# -- history, logs ----------------------------------------------------------------------------

_MAX_LIMIT = 2**62  # SQLite's integers are 64-bit; a larger --limit means "all" anyway


def _limit_option(what: str) -> Any:
    return click.option(
        "--limit",
        type=click.IntRange(min=1, max=_MAX_LIMIT, clamp=True),
        default=20,
        show_default=True,
        help=f"How many {what} at most, newest first.",
    )


@cli.command()
@click.argument("job")
@_limit_option("runs")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def history(obj: Context, job: str, limit: int, as_json: bool) -> None:
    """A job's runs, newest first (a job removed from the file keeps its history).

    \b
    Example:
      cronplus history load --limit 5
    """
    from cronplus import render, report

    runs, tz, store = _job_runs(obj, job, limit)
    now = system_clock().now()
    spec = obj.config.jobs.get(job)
    states = [report.going_state(store, r, spec, now) for r in runs]
    if as_json:
        render.print_json([_run_json(r, tz, g) for r, g in zip(runs, states, strict=True)])
        return
    render.print_table(
        ["RUN", "LOGICAL TIME", "TRIGGER", "STATUS", "ATTEMPTS", "DURATION", "EXIT", "REASON"],
        [
            [
                str(r.id),
                render.human_time(r.scheduled_for, tz),
                str(r.trigger),
                _going_word(r, g),
                str(len(r.attempts)),
                render.duration(r.duration_s),
                _exit_text(r),
                r.reason or "",
            ]
            for r, g in zip(runs, states, strict=True)
        ],
        status_column=3,
        whole=[1, 3],
    )


def _exit_text(run: Run) -> str:
    last = run.last_attempt
    if last is None or (last.exit_code is None and last.signal is None):
        return "-"
    return last.signal or str(last.exit_code)


def _job_runs(obj: Context, job: str, limit: int | None) -> tuple[list[Run], str, Store]:
    """Runs of a configured job, or of one removed from the file that still has history."""
    obj.read_config()
    store = obj.store()
    runs = store.history(job, limit)
    if job in obj.config.jobs:
        return runs, obj.config.jobs[job].timezone, store
    if not runs:
        raise UnknownJobError(job, obj.config.jobs)
    return runs, "UTC", store


@cli.command()
@click.argument("job")
@click.option("--run", "run_id", type=int, metavar="ID", help="A run id (default: latest).")
@click.option("--attempt", type=click.IntRange(min=1), metavar="N", help="Default: the last.")
@pass_ctx
def logs(obj: Context, job: str, run_id: int | None, attempt: int | None) -> None:
    """Print the output a run's attempt captured (latest run and attempt by default).

    \b
    Example:
      cronplus logs load --run 41 --attempt 2
    """
    import codecs

    runs, _, _ = _job_runs(obj, job, None)
    if run_id is not None:
        chosen = next((r for r in runs if r.id == run_id), None)
        if chosen is None:
            raise UsageError(f'job "{job}" has no run {run_id} (see: cronplus history {job})')
    else:
        chosen = next((r for r in runs if r.attempts), None)
        if chosen is None:
            raise CronplusError(f'job "{job}" has no run with output yet')
    if not chosen.attempts:
        raise CronplusError(
            f"run {chosen.id} of {job} never started ({chosen.status}: {chosen.reason})"
        )
    number = attempt or len(chosen.attempts)
    if number > len(chosen.attempts):
        raise UsageError(f"run {chosen.id} has {len(chosen.attempts)} attempt(s), not {number}")
    path = chosen.attempts[number - 1].log
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    # UTF-8 bytes whatever the locale's encoding: a U+FFFD (or any non-ASCII output)
    # must not fail on an ASCII or Latin-1 stdout.
    sys.stdout.flush()
    out = sys.stdout.buffer
    try:
        with open(path or "", "rb") as f:
            while chunk := f.read(1 << 16):
                out.write(decoder.decode(chunk).encode())
            out.write(decoder.decode(b"", final=True).encode())
        out.flush()
    except FileNotFoundError:
        raise CronplusError(
            f"the log of run {chosen.id} attempt {number} is gone ({path})"
        ) from None


# -- trigger ------------------------------------------------------------------------------------


@cli.command()
@click.argument("job")
@click.option("--wait", is_flag=True, help="Run in the foreground; exit 1 unless all succeeded.")
@click.option("--detached-child", is_flag=True, hidden=True)
@pass_ctx
def trigger(obj: Context, job: str, wait: bool, detached_child: bool) -> None:
    """Run a job now (and then its downstream jobs), with or without a daemon.

    Without --wait it runs in a detached process and prints the run id.

    \b
    Examples:
      cronplus trigger load --wait
      cronplus trigger report
    """
    obj.job(job)
    if not wait:
        _trigger_detached(obj, job)
        return
    import signal

    from cronplus.dispatch import run_now
    from cronplus.events import log_to_stderr

    log_to_stderr()

    def claimed(run: Run) -> None:
        if detached_child:
            # Tell the parent the run id, then let go of its pipe and terminal.
            sys.stdout.write(f"{run.id}\n")
            sys.stdout.flush()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)

    store = obj.store(create=True)
    alerter = obj.alerter(store, strict=False)
    runs = run_now(
        obj.config,
        store,
        obj.paths,
        job,
        on_claimed=claimed,
        install_signals=(signal.SIGTERM, signal.SIGINT),
        alerter=alerter,
    )
    alerter.flush()
    from cronplus import render

    if not detached_child:
        from cronplus.report import not_run_downstream

        for r in runs:
            tz = obj.config.jobs[r.job].timezone if r.job in obj.config.jobs else "UTC"
            render.print_line(
                f"{r.job}  run {r.id}  {r.status}  "
                f"{render.human_time(r.scheduled_for, tz)}" + (f"  {r.reason}" if r.reason else "")
            )
        for name, why in not_run_downstream(obj.config, job, runs):
            render.print_line(f"{name}: {why}")
    # As for `status`: a downstream run skipped (disabled, or its previous run still
    # going) did not fail; only failed, timed_out, upstream_failed, interrupted do.
    ok = bool(runs) and not any(r.status.is_bad for r in runs)
    sys.exit(ExitCode.OK if ok else ExitCode.NOT_SUCCEEDED)


def _trigger_detached(obj: Context, job: str) -> None:
    """Start `trigger --wait` in its own session; print the run id it claimed."""
    import subprocess

    argv = [
        sys.executable,
        "-m",
        "cronplus",
        "-c",
        obj.config_path,
        "--state",
        str(obj.paths.root),
        "trigger",
        job,
        "--wait",
        "--detached-child",
    ]
    child = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert child.stdout is not None and child.stderr is not None
    with child.stdout, child.stderr:
        line = child.stdout.readline().decode().strip()
        if line:
            click.echo(line)
            return
        err = child.stderr.read().decode()
    code = child.wait()
    click.echo(err.rstrip() or f"Error: the trigger process exited with {code}", err=True)
    sys.exit(code or ExitCode.NOT_SUCCEEDED)


# -- mark ---------------------------------------------------------------------------------------


@cli.command()
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
    from cronplus import render
    from cronplus.events import log_to_stderr
    from cronplus.manual import mark_run
    from cronplus.model import RunStatus

    spec = obj.job(job)
    if release and status != "succeeded":
        raise UsageError("--release goes with succeeded: nothing runs after a skipped run")
    when = _parse_after(at, spec.timezone, "--at")
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
    )
    alerter.flush()
    tz = spec.timezone
    render.print_line(
        f"{job}  run {marked.id}  marked {marked.status}  "
        f"{render.human_time(marked.scheduled_for, tz)}  {marked.reason}"
    )
    for r in released:
        rtz = obj.config.jobs[r.job].timezone if r.job in obj.config.jobs else "UTC"
        render.print_line(
            f"{r.job}  run {r.id}  {r.status}  {render.human_time(r.scheduled_for, rtz)}"
            + (f"  {r.reason}" if r.reason else "")
        )
    sys.exit(ExitCode.NOT_SUCCEEDED if any(r.status.is_bad for r in released) else ExitCode.OK)


# -- backfill -----------------------------------------------------------------------------------


@cli.command()
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
@click.option("--json", "as_json", is_flag=True, help="Print JSON at the end.")
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
    from cronplus.backfill import Action, plan_backfill

    obj.job(job)
    # Planning writes nothing, so bad input or a dry run leave no state behind.
    existed = obj.paths.db.exists()
    store = obj.store(create=existed and not dry_run)
    plan = plan_backfill(
        obj.config,
        store,
        job,
        from_,
        to,
        now=system_clock().now(),
        only=only,
        with_upstream=with_upstream,
        rerun=rerun,
        yes=yes,
    )
    if dry_run:
        _print_plan(plan, as_json)
        # As a real run would: a blocked (job, time) would end upstream_failed.
        blocked = any(i.action is Action.BLOCKED for i in plan.items)
        sys.exit(ExitCode.NOT_SUCCEEDED if blocked else ExitCode.OK)
    if not existed:
        store.close()
        store = obj.store(create=True)
    _run_backfill(obj, store, plan, parallel, as_json)


def _backfill_alert(alerter: Alerter, result: Any, counts: dict[Any, int]) -> None:
    """One alert for the whole backfill, not one per failed run; sent before exiting."""
    import socket

    from cronplus import render
    from cronplus.backfill import Outcome

    plan = result.plan
    bad = [
        s
        for s in result.settled
        if s.outcome in (Outcome.FAILED, Outcome.INTERRUPTED, Outcome.UPSTREAM_FAILED)
    ]
    failed = bool(bad) or result.interrupted
    word = "interrupted" if result.interrupted else ("failed" if bad else "succeeded")
    title = f"cronplus: backfill of {plan.job} {word}"
    zone = plan.timezone
    lines = [
        f"Backfill of {', '.join(plan.jobs)} for {len(plan.times)} fire times, "
        f"{render.human_time(plan.times[0], zone)} to {render.human_time(plan.times[-1], zone)}",
        f"Planned {len(plan.items)}: {counts[Outcome.SUCCEEDED]} succeeded, "
        f"{counts[Outcome.FAILED]} failed, {counts[Outcome.INTERRUPTED]} interrupted, "
        f"{counts[Outcome.SKIPPED]} already succeeded, "
        f"{counts[Outcome.UPSTREAM_FAILED]} upstream_failed, {result.not_run} not run",
        f"Host: {socket.gethostname()}",
    ]
    if bad:
        lines += ["", "Runs that did not succeed:"]
        for s in bad[:10]:
            when = render.human_time(s.scheduled_for, zone)
            why = f" ({s.run.reason})" if s.run.reason else ""
            lines.append(f"- {s.job} {when}: run {s.run.id} {s.run.status}{why}")
        if len(bad) > 10:
            lines.append(f"- and {len(bad) - 10} more")
        lines += ["", f"See more: cronplus history {plan.job}"]
    alerter.summary(plan.job, title, "\n".join(lines), failed=failed)
    alerter.flush()


def _print_plan(plan: Any, as_json: bool) -> None:
    from cronplus import render
    from cronplus.backfill import Action

    tz = plan.timezone
    counts = {a: sum(i.action is a for i in plan.items) for a in Action}
    if as_json:
        render.print_json(
            {
                "planned": len(plan.items),
                "would_run": counts[Action.RUN],
                "already_succeeded": counts[Action.DONE],
                "blocked": counts[Action.BLOCKED],
                "left_out": plan.left_out,
                "plan": [
                    {
                        "job": i.job,
                        "scheduled_for": render.iso(i.scheduled_for, tz),
                        "plan": str(i.action),
                        "run_id": i.run.id if i.run else None,
                        "detail": i.detail,
                    }
                    for i in plan.items
                ],
            }
        )
    else:
        width = max(len(j) for j in plan.jobs)
        out = sys.stdout
        for i in plan.items:
            line = f"{render.human_time(i.scheduled_for, tz)}  {i.job:<{width}}  {i.action}"
            out.write(line + (f"  {i.detail}" if i.detail else "") + "\n")
    summary = (
        f"plan: {_n(len(plan.items), 'run')} ({_n(len(plan.times), 'fire time')} x "
        f"{_n(len(plan.jobs), 'job')}): {counts[Action.RUN]} would-run, "
        f"{counts[Action.DONE]} already-succeeded, {counts[Action.BLOCKED]} blocked; "
        "nothing was run"
    )
    click.echo(summary, err=True)
    for note in _plan_notes(plan):
        click.echo(note, err=True)


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'s' * (count != 1)}"


def _plan_notes(plan: Any) -> list[str]:
    from cronplus.backfill import left_out_text

    notes = []
    if plan.disabled:
        notes.append(f"left out, disabled or after a disabled job: {', '.join(plan.disabled)}")
    left = left_out_text(plan)
    if left:
        notes.append(left)
    return notes


def _run_backfill(obj: Context, store: Store, plan: Any, parallel: int, as_json: bool) -> None:
    import signal

    from cronplus import render
    from cronplus.backfill import Outcome, Settled, run_backfill

    tz = plan.timezone
    jobs = ", ".join(plan.jobs)
    progress = render.Progress(len(plan.items), "backfill")
    kinds = {
        Outcome.SUCCEEDED: "ok",
        Outcome.FAILED: "failed",
        Outcome.INTERRUPTED: "interrupted",
        Outcome.UPSTREAM_FAILED: "failed",
        Outcome.SKIPPED: "skipped",
    }

    def settled(s: Settled) -> None:
        when = render.human_time(s.scheduled_for, tz)
        run = s.run
        if s.outcome is Outcome.SKIPPED:
            what = f"already succeeded (run {run.id})"
        elif s.outcome is Outcome.SUCCEEDED:
            what = f"succeeded (run {run.id}, attempt {len(run.attempts)})"
        else:
            what = f"{run.status} (run {run.id})" + (f": {run.reason}" if run.reason else "")
            if run.attempts:
                what += f" - see: cronplus logs {s.job} --run {run.id}"
        kind = kinds[s.outcome]
        progress.advance(kind, f"{s.job} {when} {what}", show=kind in ("failed", "interrupted"))

    alerter = obj.alerter(store, strict=False)
    try:
        result = run_backfill(
            plan,
            obj.config,
            store,
            obj.paths,
            parallel=parallel,
            on_settled=settled,
            install_signals=(signal.SIGTERM, signal.SIGINT),
        )
    finally:
        progress.close()
    counts = {o: result.count(o) for o in Outcome}
    _backfill_alert(alerter, result, counts)
    if as_json:
        render.print_json(
            {
                "planned": len(plan.items),
                # "interrupted" is the flag below; the count of such runs has its own key.
                **{str(o): counts[o] for o in Outcome if o is not Outcome.INTERRUPTED},
                "interrupted_runs": counts[Outcome.INTERRUPTED],
                "not_run": result.not_run,
                "interrupted": result.interrupted,
                "left_out": plan.left_out,
                "runs": [render.run_json(s.run, tz) for s in result.settled],
            }
        )
    else:
        render.print_line(
            f"backfill {jobs}: {_n(len(plan.times), 'fire time')} from "
            f"{render.human_time(plan.times[0], tz)} to {render.human_time(plan.times[-1], tz)}"
        )
        render.print_line(
            f"planned {len(plan.items)}: {counts[Outcome.SUCCEEDED]} succeeded, "
            f"{counts[Outcome.FAILED]} failed, {counts[Outcome.INTERRUPTED]} interrupted, "
            f"{counts[Outcome.SKIPPED]} skipped "
            f"(already succeeded), {counts[Outcome.UPSTREAM_FAILED]} upstream_failed"
            + (f", {result.not_run} not run" if result.not_run else "")
        )
        bad = [
            s
            for s in result.settled
            if s.outcome in (Outcome.FAILED, Outcome.INTERRUPTED, Outcome.UPSTREAM_FAILED)
        ]
        if bad:
            render.print_table(
                ["JOB", "LOGICAL TIME", "RUN", "STATUS", "REASON"],
                [
                    [
                        s.job,
                        render.human_time(s.scheduled_for, tz),
                        str(s.run.id),
                        str(s.run.status),
                        s.run.reason or "",
                    ]
                    for s in bad[:20]
                ],
                status_column=3,
            )
            if len(bad) > 20:
                render.print_line(f"and {len(bad) - 20} more (see: cronplus history {plan.job})")
        for note in _plan_notes(plan):
            render.print_line(note)
    if result.interrupted:
        click.echo(
            f"backfill interrupted: {len(result.settled)} of {len(plan.items)} planned runs "
            "came to an end; run the same command again to do the rest",
            err=True,
        )
    sys.exit(ExitCode.OK if result.ok else ExitCode.NOT_SUCCEEDED)


# -- alerts -------------------------------------------------------------------------------------


@cli.command()
@_limit_option("alerts")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
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
    jobs = obj.config.jobs

    def zone(job: str | None) -> str:
        """The job's zone, as everywhere; UTC for alerts about no job, or a removed one."""
        return jobs[job].timezone if job is not None and job in jobs else "UTC"

    if as_json:
        render.print_json(
            [
                {
                    "id": a.id,
                    "time": render.iso(a.time, zone(a.job)),
                    "event": a.event,
                    "job": a.job,
                    "run_id": a.run_id,
                    "channel": a.channel,
                    "sent": a.sent,
                    "error": a.error,
                }
                for a in records
            ]
        )
        return
    render.print_table(
        ["ID", "TIME", "EVENT", "JOB", "RUN", "CHANNEL", "SENT", "ERROR"],
        [
            [
                str(a.id),
                render.human_time(a.time, zone(a.job)),
                a.event,
                a.job or "-",
                str(a.run_id) if a.run_id is not None else "-",
                a.channel,
                "yes" if a.sent else "no",
                a.error or "",
            ]
            for a in records
        ],
    )


@cli.command(name="alert-test")
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
    target = obj.job(job) if job else None
    store = obj.store(create=True)
    results = obj.alerter(store, strict=True).test(target)
    if not results:
        who = f'job "{job}"' if job else "[alerts]"
        raise UsageError(f"{who} has no alert URLs to test (set urls in [alerts])")
    for channel, error in results:
        click.echo(f"{channel.shown}  " + ("delivered" if error is None else f"failed: {error}"))
    sys.exit(ExitCode.OK if all(e is None for _, e in results) else ExitCode.NOT_SUCCEEDED)


# -- pause, resume -------------------------------------------------------------------------------


@cli.command()
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
    names = [obj.job(n).name for n in jobs]
    store = obj.store(create=True)
    now = system_clock().now()
    for name in names:
        if store.pause(name, now):
            click.echo(f"{name}: paused (until: cronplus resume {name})")
        else:
            click.echo(f"{name}: was paused already")


@cli.command()
@click.argument("jobs", nargs=-1, required=True)
@pass_ctx
def resume(obj: Context, jobs: tuple[str, ...]) -> None:
    """Schedule paused jobs again, from their next fire time (nothing is caught up).

    \b
    Example:
      cronplus resume load
    """
    names = [obj.job(n).name for n in jobs]
    store = obj.store(create=True)
    for name in names:
        click.echo(f"{name}: resumed" if store.resume(name) else f"{name}: was not paused")


# -- next ---------------------------------------------------------------------------------------


_MAX_NEXT = 10_000  # fire times per job: a bound on memory, not a guess at what is wanted


@cli.command(name="next")
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
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
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
        click.echo(f"Note: -n {count} is more than {_MAX_NEXT:,}; listing {_MAX_NEXT:,}", err=True)
        count = _MAX_NEXT
    obj.read_config()
    jobs = [obj.job(job)] if job else list(obj.config.jobs.values())
    result = []
    for j in jobs:
        start = _parse_after(after, j.timezone) if after else system_clock().now()
        result.append((j, report.upcoming(obj.config, j, start, count)))
    if as_json:
        render.print_json(
            [
                {"job": j.name, "fire_times": [render.iso(t, j.timezone) for t in times]}
                for j, times in result
            ]
        )
        return
    rows = [[j.name, render.human_time(t, j.timezone)] for j, times in result for t in times]
    render.print_table(["JOB", "FIRE TIME"], rows)


def _parse_after(text: str, tz: str, option: str = "--after") -> datetime:
    from cronplus.render import zone

    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f'{option} "{text}" is not an ISO date-time '
            "(use e.g. 2026-03-29T02:00 or 2026-03-29T02:00+01:00)"
        ) from None
    _check_year(t.year, text, option)
    return t if t.tzinfo else t.replace(tzinfo=zone(tz))
