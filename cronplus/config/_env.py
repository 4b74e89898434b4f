"""`${NAME}` in alert and heartbeat URLs, and the `[defaults] env_file` that may set them.

Read once per load of the jobs file (`read_alert_env`, kept as `Config.alert_env`),
so the commands and the daemon only report what was found: `check_alert_env` for
those that refuse (run, validate, alert-test, a reload), `alert_env_warnings` for
those that go on without the URLs concerned (trigger, backfill, mark).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from cronplus.config._values import distrust
from cronplus.errors import ConfigError, Problem
from cronplus.model import AlertEnv, AlertsConfig, Config

VAR = r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}"  # compiled at first use: a file with no URLs skips it


class _Unreadable(Exception):
    """An env_file that cannot be used, and why."""


def _env_text(path: str | Path) -> str:
    """The env_file's text; _Unreadable if it cannot be read, or root must not trust it."""
    text: str | None = None
    try:
        with open(path, "rb") as f:
            why = distrust(os.fstat(f.fileno()))
            text = None if why else f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) else "it is not UTF-8 text"
    if why or text is None:
        raise _Unreadable(why)
    return text


def _parse_env(text: str) -> dict[str, str]:
    """KEY=VALUE lines; `#` comments, blank lines and a leading `export ` are allowed,
    and one pair of surrounding quotes is removed."""
    values = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def expand(url: str, env: Mapping[str, str]) -> str | None:
    """The URL with `${NAME}` filled in, or None if a variable is not set."""
    try:
        return re.sub(VAR, lambda m: env[m.group(1)], url)
    except KeyError:
        return None


def unset_names(url: str, env: Mapping[str, str]) -> list[str]:
    """The `${NAME}`s in `url` that `env` does not set."""
    return [name for name in re.findall(VAR, url) if name not in env]


def read_alert_env(config: Config) -> AlertEnv:
    """The variables `${NAME}` may use (the environment, over the env_file's; the
    environment alone when the env_file cannot be read), and each one a URL needs and
    they do not set."""
    env: dict[str, str] = {}
    error = None
    if config.env_file:
        try:
            env.update(_parse_env(_env_text(config.env_file)))
        except _Unreadable as e:
            error = f"[defaults] env_file {config.env_file}: {e}"
    env.update(os.environ)
    return AlertEnv(env, error, tuple(_unset(config, env)))


def _unset(config: Config, env: Mapping[str, str]) -> list[tuple[str | None, str]]:
    """(job, problem) for every `${NAME}` in an alert or heartbeat URL that `env` lacks,
    once per table, key and name."""
    tables: list[tuple[str, str | None, AlertsConfig]] = []
    if config.alerts is not None:
        tables.append(("[alerts]", None, config.alerts))
    tables += [
        (f"[jobs.{j.name}.alerts]", j.name, j.alerts) for j in config.jobs.values() if j.alerts
    ]
    found: dict[tuple[str, str, str], tuple[str | None, str]] = {}
    for label, job, table in tables:
        urls = [("urls", u) for u in table.urls]
        if table.heartbeat and job is None:
            urls.append(("heartbeat", table.heartbeat))
        for key, url in urls:
            for name in unset_names(url, env):
                found.setdefault(
                    (label, key, name),
                    (
                        job,
                        f'{label} {key}: variable "{name}" is not set '
                        "(export it, or set it in [defaults] env_file)",
                    ),
                )
    return list(found.values())


def _found(config: Config) -> AlertEnv:
    """As loaded; read now for a Config that was not loaded from a file."""
    return config.alert_env if config.alert_env is not None else read_alert_env(config)


def alert_values(config: Config) -> Mapping[str, str]:
    """What `${NAME}` expands with."""
    return _found(config).values


def alert_env_warnings(config: Config, display: str) -> tuple[Problem | None, list[Problem]]:
    """(the env_file's problem, each `${NAME}` not set), for commands that alert without
    what is missing; `display` names the jobs file."""
    found = _found(config)
    unreadable = None
    if found.env_file_error is not None:
        assert config.env_file is not None
        unreadable = Problem(Path(config.env_file).name, None, None, found.env_file_error)
    return unreadable, [Problem(display, None, job, text) for job, text in found.unset]


def check_alert_env(config: Config, display: str) -> None:
    """Refuse a jobs file whose env_file cannot be read, or whose alert URLs need a
    variable nobody set: ConfigError, the env_file's problem alone if it has one."""
    unreadable, unset = alert_env_warnings(config, display)
    if unreadable is not None:
        raise ConfigError([unreadable], unreadable.file)
    if unset:
        raise ConfigError(unset, display)


def warn_alert_env(
    config: Config, display: str, *, strict: bool, warn: Callable[[str], None]
) -> None:
    """Say what alert URLs will go without: a `${NAME}` nobody set, or an env_file that
    cannot be read, is an error when `strict` (run, validate, alert-test); elsewhere
    (trigger, mark, backfill) a `warn`ing, and that URL is skipped."""
    if strict:
        check_alert_env(config, display)
    unreadable, problems = alert_env_warnings(config, display)
    if unreadable is not None:  # an env_file that cannot be read
        warn(f"Warning: {unreadable}; alerts go without its variables")
    for problem in problems:
        warn(f"Warning: {problem}; alerts skip that URL")
