"""What the commands share: the `Context` every command gets (the global options, the
jobs file and state loaded once on demand), their common options and parsers."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cronplus.errors import UnknownJobError, UsageError

if TYPE_CHECKING:
    from cronplus.alerts import Alerter
    from cronplus.model import Config, Job
    from cronplus.paths import StatePaths
    from cronplus.store import Store


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
