"""The `Context` every command gets: the global options, and the jobs file and state
loaded once on demand. Without click, so that `cronplus status` can run without it
(`_status.py`, issue 12); the click commands get it through `_group.pass_ctx`."""

from __future__ import annotations

from pathlib import Path

from cronplus.errors import ConfigError, CronplusError, UnknownJobError

TYPE_CHECKING = False  # typing costs a quick command's start (issue 12)
if TYPE_CHECKING:
    from collections.abc import Callable

    from cronplus.alerts import Alerter
    from cronplus.model import Config, Job
    from cronplus.paths import StatePaths
    from cronplus.store import Store


class Context:
    """The global options, and the jobs file and state loaded once on demand. `warn`
    writes one line to stderr (click's echo under click)."""

    def __init__(self, config_path: str, state: str | None, warn: Callable[[str], None]) -> None:
        self.config_path = config_path
        self.state_option = state
        self.warn = warn
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
                self.warn(reading.warning)
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

        warn_alert_env(self.config, self.config_path, strict=strict, warn=self.warn)

    def job(self, name: str) -> Job:
        if name not in self.config.jobs:
            raise UnknownJobError(name, self.config.jobs)
        return self.config.jobs[name]


def error_text(e: CronplusError) -> str:
    """What stderr says of a CronplusError: a jobs file's problems as they are, one per
    line, anything else after `Error: `."""
    return str(e) if isinstance(e, ConfigError) else f"Error: {e}"
