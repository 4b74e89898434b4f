"""jobs.toml -> a validated `Config`, with every problem found reported at once, and
what `${NAME}` in its alert URLs expands with.

A user fixing a jobs file should see all its mistakes in one `validate`, each
located as `FILE:LINE:`, so nothing here raises on the first problem: checks
append to a list and `load_config` raises one `ConfigError` at the end.
tomllib gives no positions; `_toml_lines.KeyLines` finds them in the source.

The CLI imports this module for every command, so it imports only stdlib at
the top; cronplus.schedule is imported when a schedule is checked.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

from cronplus import graph
from cronplus.config._env import (
    alert_env_warnings,
    alert_values,
    check_alert_env,
    expand,
    read_alert_env,
    unset_names,
    warn_alert_env,
)
from cronplus.config._values import (
    distrust,
    is_zone,
    parse_duration,
    show_value,
    system_timezone,
)
from cronplus.errors import ConfigError, Problem, UnknownJobError
from cronplus.model import Config

__all__ = [
    "alert_env_warnings",
    "alert_values",
    "check_alert_env",
    "config_dag",
    "distrust",
    "expand",
    "is_zone",
    "load_config",
    "load_config_kept",
    "load_config_text",
    "parse_duration",
    "pipeline_schedule",
    "readable_jobs",
    "reading_view",
    "schedule_notes",
    "show_value",
    "system_timezone",
    "warn_alert_env",
    "unset_names",
]

# A pattern, compiled by `re` (and cached) at its first use: a jobs file without a
# syntax error never pays for it (issue 12).
_TOML_ERROR = r"(?P<msg>.*) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)"


def schedule_notes(config: Config, display: str) -> list[Problem]:
    """`validate`'s notes on valid schedules (`_checks.schedule_notes`), imported late."""
    from cronplus.config._checks import schedule_notes as notes

    return notes(config, display)


def load_config(path: Path | str, *, display_path: str | None = None) -> Config:
    """Read and validate a jobs file; raise ConfigError listing every problem.

    `display_path` is how messages name the file (the path as the user typed
    it, e.g. "jobs.toml"); it defaults to `path` as given.
    """
    display = display_path if display_path is not None else os.fspath(path)
    return load_config_text(_read(Path(path), display), path, display)


def load_config_text(text: str, path: Path | str, display: str) -> Config:
    """As `load_config`, from the file's text (`path` places relative paths)."""
    config = _checked(text, Path(os.path.abspath(path)), display)
    return replace(config, source=text, alert_env=read_alert_env(config))


def load_config_kept(path: Path | str, *, display_path: str | None = None) -> Config:
    """As `load_config`, for the commands that only read, without what they do not
    show and may be a secret (`_cache.keep`); a file that loaded before comes from
    the cache (`_cache`) instead of being parsed and checked again (issue 12)."""
    from cronplus.config import _cache

    display = display_path if display_path is not None else os.fspath(path)
    text = _read(Path(path), display)
    absolute = Path(os.path.abspath(path))
    key = _cache.key_of(text, absolute)
    config = _cache.load(absolute, key)
    if config is None:
        config = _cache.keep(absolute, key, _checked(text, absolute, display))
    return replace(config, source=text, alert_env=read_alert_env(config))


def _checked(text: str, absolute: Path, display: str) -> Config:
    import tomllib

    from cronplus._toml_lines import KeyLines

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(exc, text, display)], display) from None
    from cronplus.config._loader import Loader

    return Loader(display, absolute, KeyLines(text)).load(data)


# What commands that only read need of a job: when it fires, what it runs after, how
# late is late. Nothing that can hold a secret (commands, env, alert URLs).
_READ_KEYS = ("schedule", "timezone", "after", "enabled", "description") + (
    "expected_duration",
    "start_grace",
)


def reading_view(text: str) -> str:
    """The jobs file reduced to what `status`, `history`, `logs`, `alerts` and `next`
    need, for the daemon to keep in the state: the state must not gain secrets the
    file holds (alert URLs, env values, a password in a command)."""
    import tomllib

    import tomli_w

    data = tomllib.loads(text)
    defaults = data.get("defaults", {})
    view: dict[str, object] = {
        "defaults": {k: v for k, v in defaults.items() if k in _READ_KEYS},
        "jobs": {
            name: {k: v for k, v in job.items() if k in _READ_KEYS}
            | {"command": "(recorded without its command)"}
            for name, job in data.get("jobs", {}).items()
        },
    }
    return tomli_w.dumps(view)


def readable_jobs(path: Path | str, display: str) -> Config | None:
    """The jobs of a file with problems that can be read without them, for commands
    that only read: jobs with problems are left out (then those after them), and so
    is `[alerts]` if it has any; with problems outside any job, no jobs, but still
    `[defaults].state`. None when the file cannot be read or parsed at all."""
    import tomllib

    from cronplus._toml_lines import KeyLines
    from cronplus.config._loader import Loader

    absolute = Path(os.path.abspath(path))
    try:
        text = _read(Path(path), display)
        data = tomllib.loads(text)
    except (ConfigError, tomllib.TOMLDecodeError):
        return None
    defaults = data.get("defaults")
    state = defaults.get("state") if isinstance(defaults, dict) else None
    empty = Config(
        path=absolute,
        jobs={},
        state=(state if "://" in state or "${" in state else str(absolute.parent / state))
        if isinstance(state, str) and state
        else None,
    )
    lines = KeyLines(text)
    for _ in range(_SALVAGE_ROUNDS):
        try:
            return Loader(display, absolute, lines).load(data)
        except ConfigError as e:
            bad = {p.job for p in e.problems if p.job}
            jobs = data.get("jobs")
            if any(p.job is None for p in e.problems):
                if "alerts" not in data:
                    return empty
                data.pop("alerts")
            if bad and isinstance(jobs, dict):
                data["jobs"] = {n: j for n, j in jobs.items() if n not in bad}
    return empty


_SALVAGE_ROUNDS = 10  # each round leaves out the jobs after those left out before


def pipeline_schedule(config: Config, name: str) -> tuple[str | None, str]:
    """(schedule, timezone) that drive `name`: its own for a root, else its pipeline roots'."""
    if name not in config.jobs:
        raise UnknownJobError(name, config.jobs)
    root = config.jobs[config_dag(config).pipeline_roots(name)[0]]
    return root.schedule, root.timezone


def config_dag(config: Config) -> graph.Dag:
    """The `after` graph of `config`, worked out once and kept while `config` is the
    one asked about: a read command asks per job, the daemon per finished run, and
    working it out each time made both quadratic in the number of jobs (issue 12)."""
    kept = _last_dag[0] if _last_dag else None
    if kept is not None and kept[0] is config:
        return kept[1]
    dag = graph.Dag({n: job.after for n, job in config.jobs.items()})
    _last_dag[:] = [(config, dag)]  # one assignment: threads asking at once get a good one
    return dag


_last_dag: list[tuple[Config, graph.Dag]] = []


def _read(path: Path, display: str) -> str:
    def fail(message: str, line: int | None = None) -> ConfigError:
        return ConfigError([Problem(display, line, None, message)], display)

    try:
        with open(path, "rb") as f:
            untrusted = distrust(os.fstat(f.fileno()))
            if untrusted:
                raise fail(untrusted)
            data = f.read()
    except FileNotFoundError:
        raise fail("file not found (create it or pass -c/--config PATH)") from None
    except IsADirectoryError:
        raise fail("is a directory (pass -c/--config PATH of a TOML file)") from None
    except PermissionError:
        raise fail("cannot be read: permission denied (check its permissions)") from None
    except OSError as exc:
        raise fail(f"cannot be read: {exc.strerror or exc} (check the path)") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise fail("is not UTF-8 text (save it as UTF-8)", line) from None


def _syntax_problem(exc: Exception, text: str, display: str) -> Problem:
    match = re.fullmatch(_TOML_ERROR, str(exc))
    if match is None:
        return Problem(display, None, None, str(exc))
    if match["line"]:
        return Problem(display, int(match["line"]), None, match["msg"], column=int(match["col"]))
    return Problem(display, max(1, len(text.splitlines())), None, match["msg"])
