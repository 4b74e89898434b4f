"""The `cronplus` group: its global options, the `Context` every command gets, the
options and parsers commands share, and the one place errors become exit codes."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cronplus.errors import ConfigError, CronplusError, ExitCode, UnknownJobError, UsageError

if TYPE_CHECKING:
    from cronplus.alerts import Alerter
    from cronplus.model import Config, Job
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
        """For commands that only read: the jobs file, or while it has problems what
        stands in for it (`reading.config_for_reading`), with its warning on stderr."""
        if self._config is None:
            from cronplus.reading import config_for_reading

            reading = config_for_reading(self.config_path, self.state_option)
            if reading.warning:
                click.echo(reading.warning, err=True)
            self._config = reading.config
        return self._config

    @property
    def paths(self) -> StatePaths:
        from cronplus.paths import resolve_state_dir

        return resolve_state_dir(self.state_option, self.config.state, self.config.folder)

    def store(self, *, create: bool = False) -> Store:
        from cronplus.store import open_store

        return open_store(self.paths, create=create)

    def alerter(self, store: Store, *, strict: bool) -> Alerter:
        """Alerts as the jobs file sets them (see `alert_env` for `strict`)."""
        from cronplus.alerts import Alerter

        self.alert_env(strict=strict)
        return Alerter(self.config, store, warn_missing=False)

    def alert_env(self, *, strict: bool) -> None:
        """A `${NAME}` nobody set is an error when `strict` (run, validate, alert-test);
        elsewhere that URL is skipped with a warning."""
        from cronplus.config import warn_alert_env

        warn_alert_env(self.config, self.config_path, strict=strict, warn=warn)

    def job(self, name: str) -> Job:
        if name not in self.config.jobs:
            raise UnknownJobError(name, self.config.jobs)
        return self.config.jobs[name]


pass_ctx = click.make_pass_decorator(Context)


def warn(line: str) -> None:
    click.echo(line, err=True)


def json_option(help: str = "Print JSON.") -> Any:  # noqa: A002 (click's own word)
    """The one `--json` flag of every command that prints JSON."""
    return click.option("--json", "as_json", is_flag=True, help=help)


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


MAX_LIMIT = 2**62  # SQLite's integers are 64-bit; a larger --limit means "all" anyway


def limit_option(what: str) -> Any:
    return click.option(
        "--limit",
        type=click.IntRange(min=1, max=MAX_LIMIT, clamp=True),
        default=20,
        show_default=True,
        help=f"How many {what} at most, newest first.",
    )


def parse_date(text: str, option: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f'{option} "{text}" is not a date (use YYYY-MM-DD)') from None
    check_year(day.year, text, option)
    return day


def check_year(year: int, text: str, option: str) -> None:
    """Times near the calendar's ends cannot be shifted into every zone: the commands
    take the years backfill takes."""
    if not 2 <= year <= 9998:
        raise UsageError(f'{option} "{text}" is out of range (years 2 to 9998)')


def parse_after(text: str, tz: str, option: str = "--after") -> datetime:
    from cronplus.zones import zone

    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f'{option} "{text}" is not an ISO date-time '
            "(use e.g. 2026-03-29T02:00 or 2026-03-29T02:00+01:00)"
        ) from None
    check_year(t.year, text, option)
    return t if t.tzinfo else t.replace(tzinfo=zone(tz))
