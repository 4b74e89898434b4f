"""The validation pass behind `config.load_config`: per-value checks, the `after`
graph rules, and building the model once nothing is wrong. Private to the package."""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from cronplus import graph
from cronplus._toml_lines import KeyLines
from cronplus.config._values import is_zone, parse_duration, show_value, system_timezone
from cronplus.errors import ConfigError, Problem, did_you_mean
from cronplus.model import (
    MAX_RETRY_DELAY,
    ON_EVENTS,
    AlertEvent,
    AlertsConfig,
    Catchup,
    Config,
    Job,
    Overlap,
    RetryPolicy,
)

# Keys in the order they are listed in messages.
JOB_KEYS = (
    "schedule", "command", "python", "shell", "after", "timezone", "retries", "retry_delay",
    "retry_backoff", "retry_max_delay", "timeout", "kill_grace", "expected_duration",
    "start_grace", "overlap", "catchup", "catchup_limit", "env", "cwd", "enabled",
    "description", "alerts",
)  # fmt: skip
NOT_DEFAULTS = {
    "schedule": "set it on each job",
    "command": "set it on each job",
    "python": "set it on each job",
    "after": "set it on each job that needs it",
    "alerts": "use the [alerts] table",
}
DEFAULTS_ONLY = ("state", "max_parallel", "env_file")
DEFAULTS_KEYS = tuple(k for k in JOB_KEYS if k not in NOT_DEFAULTS) + DEFAULTS_ONLY
ALERTS_KEYS = ("urls", "on", "repeat_after", "timeout", "heartbeat", "heartbeat_every")
JOB_ALERTS_KEYS = ("urls", "on")
TOP_KEYS = ("defaults", "alerts", "jobs")
# In the order a too-long retry delay is reported on: the likeliest culprit first.
RETRY_KEYS = ("retry_backoff", "retries", "retry_delay", "retry_max_delay")

# ASCII only; no leading "-", which the command line would read as an option; at most
# 100 characters, so logs/NAME/ stays a usable file name on every filesystem.
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,99}")
_PYTHON_RE = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*)*:[^\W\d]\w*")


class _Bad:
    """Marks a value that was reported as a problem and must not be used."""


BAD = _Bad()


@dataclass(frozen=True, slots=True)
class _Where:
    """Which table a value came from, so a problem can be located and labelled."""

    path: tuple[str, ...]  # the table's key path, e.g. ("jobs", "load")
    job: str | None = None
    label: str = ""  # message prefix, e.g. "[defaults] "
    keys: str = ""  # key-name prefix, e.g. "alerts." for a job's alerts table


class Loader:
    """One validation pass over a parsed file; collects problems, then builds the Config."""

    def __init__(self, display: str, path: Path, lines: KeyLines) -> None:
        self.display = display
        self.path = path
        self.folder = path.parent
        self.lines = lines
        self.problems: list[Problem] = []
        self._system_zone: str | None = None
        self._checks: dict[str, Callable[[_Where, str, Any], Any]] = {
            "schedule": self._schedule,
            "command": self._text,
            "python": self._python,
            "shell": self._text,
            "after": self._after,
            "timezone": self._timezone,
            "retries": lambda w, k, v: self._int(w, k, v, minimum=0),
            "retry_delay": self._duration,
            "retry_backoff": self._backoff,
            "retry_max_delay": self._duration,
            "timeout": lambda w, k, v: self._duration(w, k, v, positive=True),
            "kill_grace": self._duration,
            "expected_duration": lambda w, k, v: self._duration(w, k, v, positive=True),
            "start_grace": lambda w, k, v: self._duration(w, k, v, positive=True),
            "env_file": self._path,
            "env": self._env,
            "cwd": self._cwd,
            "enabled": self._bool,
            "overlap": lambda w, k, v: self._one_of(w, k, v, Overlap),
            "catchup": lambda w, k, v: self._one_of(w, k, v, Catchup),
            "catchup_limit": lambda w, k, v: self._int(w, k, v, minimum=1),
            "description": self._string,
            "alerts": self._job_alerts,
            "state": self._state,
            "max_parallel": lambda w, k, v: self._int(w, k, v, minimum=1),
        }

    # -- reporting -------------------------------------------------------------

    def report(self, where: _Where, key: str | tuple[str, ...] | None, message: str) -> None:
        """Record a problem on the line of `key` in `where`'s table (a tuple for nested keys)."""
        keys = () if key is None else (key,) if isinstance(key, str) else key
        line = self.lines.line_of(*where.path, *keys)
        self.problems.append(Problem(self.display, line, where.job, where.label + message))

    def unknown_key(self, where: _Where, key: str, known: tuple[str, ...]) -> None:
        hint = did_you_mean(key, known) or f" (valid keys: {', '.join(sorted(known))})"
        self.report(where, key, f'unknown key "{where.keys}{key}"{hint}')

    def wrong(
        self, where: _Where, key: str | tuple[str, ...], expected: str, value: object, **show: bool
    ) -> _Bad:
        name = where.keys + (key if isinstance(key, str) else ".".join(key))
        self.report(where, key, f"{name} must be {expected} (got {show_value(value, **show)})")
        return BAD

    def system_zone(self) -> str:
        if self._system_zone is None:
            self._system_zone = system_timezone()
        return self._system_zone

    # -- the file --------------------------------------------------------------

    def load(self, data: dict[str, Any]) -> Config:
        top = _Where(())
        for key in data:
            if key not in TOP_KEYS:
                hint = (
                    did_you_mean(key, TOP_KEYS) or " (expected [defaults], [alerts] or [jobs.NAME])"
                )
                self.report(top, key, f'unknown key "{key}"{hint}')
        defaults = self.table(data, "defaults", self.defaults)
        alerts = self.table(data, "alerts", self.alerts)
        jobs_raw = data.get("jobs", {})
        if not isinstance(jobs_raw, dict):
            self.wrong(top, "jobs", "a table of [jobs.NAME] tables", jobs_raw)
            jobs_raw = {}
        tables = {}
        for name, table in jobs_raw.items():
            where = _Where(("jobs", name), job=name)
            if not isinstance(table, dict):
                self.report(where, None, f"must be a table [jobs.{name}] (got {show_value(table)})")
                continue
            tables[name] = table
        values = {name: self.job(name, table) for name, table in tables.items()}
        self.check_graph(tables, values, defaults or {})
        self.check_retries(values, defaults or {})
        if self.problems:
            raise ConfigError(self.problems, self.display)
        return self.build(values, defaults or {}, alerts)

    def table(self, data: dict[str, Any], key: str, parse: Callable[[dict], Any]) -> Any:
        if key not in data:
            return None
        if not isinstance(data[key], dict):
            self.wrong(_Where(()), key, f"a table [{key}]", data[key])
            return None
        return parse(data[key])

    def defaults(self, table: dict[str, Any]) -> dict[str, Any]:
        where = _Where(("defaults",), label="[defaults] ")
        values = {}
        for key, value in table.items():
            if key in NOT_DEFAULTS:
                self.report(where, key, f"{key} can't be a default ({NOT_DEFAULTS[key]})")
            elif key not in DEFAULTS_KEYS:
                self.unknown_key(where, key, DEFAULTS_KEYS)
            elif (parsed := self._checks[key](where, key, value)) is not BAD:
                values[key] = parsed
        return values

    def alerts(self, table: dict[str, Any]) -> AlertsConfig:
        where = _Where(("alerts",), label="[alerts] ")
        values = {}
        for key, value in table.items():
            if key not in ALERTS_KEYS:
                self.unknown_key(where, key, ALERTS_KEYS)
                continue
            if key == "heartbeat":
                parsed = self._text(where, key, value, secret=True)
            elif key in ("heartbeat_every", "timeout"):
                parsed = self._duration(where, key, value, positive=True)
            elif key == "repeat_after":
                parsed = self._duration(where, key, value)
            else:
                parsed = (
                    self._urls(where, key, value)
                    if key == "urls"
                    else self._events(where, key, value)
                )
            if parsed is not BAD:
                values[key] = parsed
        return AlertsConfig(**values)

    def job(self, name: str, table: dict[str, Any]) -> dict[str, Any]:
        where = _Where(("jobs", name), job=name)
        if not _NAME_RE.fullmatch(name):
            self.report(
                where,
                None,
                'name must be 1 to 100 ASCII letters, digits, "_" and "-",'
                ' not starting with "-" (rename the table)',
            )
        has = "command" in table, "python" in table
        if all(has):
            self.report(where, None, "has both command and python (keep one)")
        elif not any(has):
            self.report(
                where,
                None,
                "has neither command nor python"
                ' (add command = "..." or python = "package.module:function")',
            )
        values = {}
        for key, value in table.items():
            if key in DEFAULTS_ONLY:
                self.report(where, key, f"{key} can only be set in [defaults] (move it there)")
            elif key not in JOB_KEYS:
                self.unknown_key(where, key, JOB_KEYS)
            elif (parsed := self._checks[key](where, key, value)) is not BAD:
                values[key] = parsed
        return values

    # -- across jobs: after, cycles, pipelines ---------------------------------------

    def check_graph(
        self,
        tables: dict[str, dict[str, Any]],
        values: dict[str, dict[str, Any]],
        defaults: dict[str, Any],
    ) -> None:
        deps: dict[str, tuple[str, ...]] = {}
        for name, job in values.items():
            where = _Where(("jobs", name), job=name)
            edges = []
            for dep in job.get("after", ()):
                if dep == name:
                    self.report(
                        where, "after", f'after "{dep}": a job can\'t run after itself (remove it)'
                    )
                elif dep not in tables:
                    others = [n for n in tables if n != name]
                    hint = did_you_mean(dep, others) or f" (add [jobs.{dep}] or fix the name)"
                    self.report(where, "after", f'after "{dep}": no such job{hint}')
                else:
                    edges.append(dep)
            deps[name] = tuple(edges)
        for cycle in graph.find_cycles(deps):
            self.report(
                _Where(("jobs", cycle[0]), job=cycle[0]),
                "after",
                f"dependency cycle: {' -> '.join(cycle)}",
            )
        has_after = {name: bool(table.get("after")) for name, table in tables.items()}
        for name, table in tables.items():
            for key in ("schedule", "timezone"):
                if has_after[name] and key in table:
                    self.report(
                        _Where(("jobs", name), job=name),
                        key,
                        f"has after, so it can't have its own {key}"
                        f" (it takes its pipeline's; remove {key})",
                    )
        for group in graph.pipelines(deps):
            roots = [name for name in group if not has_after[name]]
            # A root whose own value was bad is already reported; comparing it would only add noise.
            if len(roots) < 2 or any(
                k in tables[r] and k not in values[r]
                for r in roots
                for k in ("schedule", "timezone")
            ):
                continue
            schedules = {r: values[r].get("schedule") for r in roots}
            self.disagree(
                roots, "schedule", schedules, "give every job in it without after the same schedule"
            )
            zones = {
                r: values[r].get("timezone") or defaults.get("timezone") or self.system_zone()
                for r in roots
            }
            self.disagree(
                roots, "timezone", zones, "give every job in it without after the same timezone"
            )

    def disagree(
        self, roots: list[str], key: str, declared: dict[str, str | None], fix: str
    ) -> None:
        """One problem per pipeline whose roots differ, at the first root unlike the first."""

        def norm(value: str | None) -> str | None:
            return " ".join(value.split()) if value else None

        first = norm(declared[roots[0]])
        odd = next((r for r in roots if norm(declared[r]) != first), None)
        if odd is None:
            return
        listing = ", ".join(
            f'"{r}" has {show_value(declared[r]) if declared[r] else "none"}' for r in roots
        )
        self.report(
            _Where(("jobs", odd), job=odd),
            key,
            f"pipeline roots disagree on {key}: {listing} ({fix})",
        )

    def check_retries(self, values: dict[str, dict[str, Any]], defaults: dict[str, Any]) -> None:
        """Each job's longest retry delay, from its settings over [defaults], must be one
        that can be waited: reported on the job when it sets one of them, else once on
        [defaults]."""
        on_defaults = False
        for name, job in values.items():
            chosen = {k: job[k] if k in job else defaults.get(k) for k in RETRY_KEYS}
            policy = _retry_policy(chosen)
            if policy.longest_delay_s() <= MAX_RETRY_DELAY.total_seconds():
                continue
            own = [k for k in RETRY_KEYS if k in job]
            if not own and on_defaults:
                continue
            on_defaults = on_defaults or not own
            where = (
                _Where(("jobs", name), job=name)
                if own
                else _Where(("defaults",), label="[defaults] ")
            )
            self.report(
                where,
                (own or [k for k in RETRY_KEYS if k in defaults])[0],
                f"retry_backoff {policy.backoff:g} with retries = {policy.retries} and"
                f" retry_delay {policy.delay.total_seconds():g}s makes the delay before the"
                f" last retry longer than {MAX_RETRY_DELAY.days:,} days"
                " (lower them, or cap it with retry_max_delay)",
            )

    # -- the model -------------------------------------------------------------------

    def build(
        self,
        values: dict[str, dict[str, Any]],
        defaults: dict[str, Any],
        alerts: AlertsConfig | None,
    ) -> Config:
        deps = {name: job.get("after", ()) for name, job in values.items()}
        zones = {
            name: job.get("timezone") or defaults.get("timezone") or self.system_zone()
            for name, job in values.items()
            if not deps[name]
        }
        jobs = {}
        for name, job in values.items():

            def get(key: str, default: Any, job: dict[str, Any] = job) -> Any:
                return job[key] if key in job else defaults.get(key, default)

            own_alerts = job.get("alerts", True)
            jobs[name] = Job(
                name=name,
                command=job.get("command"),
                python=job.get("python"),
                schedule=job.get("schedule"),
                timezone=zones[graph.pipeline_roots(deps, name)[0]],
                after=deps[name],
                shell=get("shell", _JOB.shell),
                retry=_retry_policy({k: get(k, None) for k in RETRY_KEYS}),
                timeout=get("timeout", _JOB.timeout),
                kill_grace=get("kill_grace", _JOB.kill_grace),
                expected_duration=get("expected_duration", _JOB.expected_duration),
                start_grace=get("start_grace", _JOB.start_grace),
                overlap=get("overlap", _JOB.overlap),
                catchup=get("catchup", _JOB.catchup),
                catchup_limit=get("catchup_limit", _JOB.catchup_limit),
                env={**defaults.get("env", {}), **job.get("env", {})},
                cwd=get("cwd", self.folder),
                enabled=get("enabled", _JOB.enabled),
                description=get("description", _JOB.description),
                line=self.lines.line_of("jobs", name),
                # A job's own alerts table overrides [alerts] field by field.
                alerts=replace(alerts or AlertsConfig(), **own_alerts)
                if isinstance(own_alerts, dict)
                else None,
                alerts_enabled=own_alerts is not False,
            )
        return Config(
            path=self.path,
            jobs=jobs,
            state=defaults.get("state"),
            max_parallel=defaults.get("max_parallel"),
            alerts=alerts,
            env_file=defaults.get("env_file"),
        )

    # -- values ----------------------------------------------------------------------
    # Each check takes (where, key, value) and returns the parsed value, or BAD after reporting.

    def _string(self, where: _Where, key: str, value: Any) -> Any:
        return value if isinstance(value, str) else self.wrong(where, key, "a string", value)

    def _text(self, where: _Where, key: str, value: Any, *, secret: bool = False) -> Any:
        if not isinstance(value, str):
            return self.wrong(where, key, "a string", value, secret=secret)
        if not value.strip():
            self.report(where, key, f"{where.keys}{key} is empty (give it a value)")
            return BAD
        if "\0" in value:  # no command line, path or URL can carry one
            self.report(where, key, f"{where.keys}{key} contains a NUL character (remove it)")
            return BAD
        return value

    def _one_of(self, where: _Where, key: str, value: Any, modes: type[StrEnum]) -> Any:
        if value in [m.value for m in modes]:
            return modes(value)
        listed = ", ".join(f'"{m}"' for m in modes)
        return self.wrong(where, key, f"one of {listed}", value)

    def _bool(self, where: _Where, key: str, value: Any) -> Any:
        return value if isinstance(value, bool) else self.wrong(where, key, "true or false", value)

    def _int(self, where: _Where, key: str, value: Any, *, minimum: int) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            return self.wrong(where, key, f"a whole number, {minimum} or more", value)
        return value

    def _backoff(self, where: _Where, key: str, value: Any) -> Any:
        # Below 1 each retry would come sooner than the last, which is never what a
        # retry policy means; 1 keeps retry_delay constant.
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not 1 <= value < float("inf"):
            return self.wrong(where, key, "a number, 1 or more", value)
        return float(value)

    def _duration(self, where: _Where, key: str, value: Any, *, positive: bool = False) -> Any:
        try:
            parsed = parse_duration(value)
        except ValueError as exc:
            self.report(where, key, f"{where.keys}{key} {exc}")
            return BAD
        if positive and not parsed:
            return self.wrong(where, key, "more than 0", value)
        return parsed

    def _schedule(self, where: _Where, key: str, value: Any) -> Any:
        from cronplus.schedule import ScheduleError, fires_ever, parse_schedule

        if not isinstance(value, str):
            return self.wrong(where, key, 'a cron expression like "0 3 * * *" or "@daily"', value)
        try:
            parsed = parse_schedule(value)
        except ScheduleError as exc:
            self.report(
                where,
                key,
                f"schedule {show_value(value)}: {exc} (see the README's schedule syntax)",
            )
            return BAD
        if not fires_ever(parsed):
            self.report(
                where,
                key,
                f"schedule {show_value(value)} never fires: no date matches its day-of-month,"
                " month and day-of-week fields together (see the README's schedule syntax)",
            )
            return BAD
        return value

    def _python(self, where: _Where, key: str, value: Any) -> Any:
        value = self._text(where, key, value)
        if value is not BAD and not _PYTHON_RE.fullmatch(value.strip()):
            self.report(
                where,
                key,
                f'python {show_value(value)} must look like "package.module:function"'
                ' (e.g. "reports.daily:main")',
            )
            return BAD
        return value if value is BAD else value.strip()

    def _after(self, where: _Where, key: str, value: Any) -> Any:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return self.wrong(where, key, 'a list of job names like ["extract"]', value)
        return tuple(dict.fromkeys(value))

    def _timezone(self, where: _Where, key: str, value: Any) -> Any:
        if not isinstance(value, str):
            return self.wrong(where, key, 'an IANA time zone name like "Europe/Berlin"', value)
        if is_zone(value):
            return value
        # available_timezones() walks the whole zoneinfo tree: only pay for it on a typo.
        hint = (
            did_you_mean(value, zoneinfo.available_timezones())
            or ' (use an IANA name like "Europe/Berlin" or "UTC")'
        )
        self.report(where, key, f"{where.keys}{key} {show_value(value)} is unknown{hint}")
        return BAD

    def _env(self, where: _Where, key: str, value: Any) -> Any:
        if not isinstance(value, dict):
            return self.wrong(where, key, 'a table of NAME = "value"', value)
        ok = True
        for name, text in value.items():
            if "\0" in name:  # the environment is NUL-separated: it could not be passed
                shown = name.replace("\0", "\\0")
                self.report(
                    where, (key, name), f'{key} name "{shown}" contains a NUL character (remove it)'
                )
                ok = False
            elif not name or "=" in name:
                self.report(
                    where,
                    (key, name),
                    f'{key} name "{name}" is not usable (names must be non-empty, without "=")',
                )
                ok = False
            elif not isinstance(text, str):
                self.wrong(where, (key, name), "a string in quotes", text)
                ok = False
            elif "\0" in text:
                self.report(
                    where, (key, name), f"{key}.{name} contains a NUL character (remove it)"
                )
                ok = False
        return dict(value) if ok else BAD

    def _cwd(self, where: _Where, key: str, value: Any) -> Any:
        value = self._text(where, key, value)
        return value if value is BAD else self._resolve(value)

    def _state(self, where: _Where, key: str, value: Any) -> Any:
        value = self._text(where, key, value)
        if value is BAD or "://" in value:  # a database URL, used as written
            return value
        return str(self._resolve(value))

    def _path(self, where: _Where, key: str, value: Any) -> Any:
        value = self._text(where, key, value)
        return value if value is BAD else str(self._resolve(value))

    def _resolve(self, value: str) -> Path:
        """Relative to the jobs file's folder, not the caller's cwd, so the daemon and CLI agree."""
        return Path(os.path.normpath(self.folder / Path(value).expanduser()))

    def _job_alerts(self, where: _Where, key: str, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if not isinstance(value, dict):
            return self.wrong(where, key, "false or a table with urls and/or on", value)
        inner = _Where((*where.path, key), job=where.job, label=where.label, keys=f"{key}.")
        values = {}
        for name, item in value.items():
            if name in JOB_ALERTS_KEYS:
                parsed = (
                    self._urls(inner, name, item)
                    if name == "urls"
                    else self._events(inner, name, item)
                )
                if parsed is not BAD:
                    values[name] = parsed
            elif name in ALERTS_KEYS:
                self.report(
                    inner, name, f"{key}.{name} can only be set in [alerts] (move it there)"
                )
            else:
                self.unknown_key(inner, name, JOB_ALERTS_KEYS)
        return values

    def _urls(self, where: _Where, key: str, value: Any) -> Any:
        # Never echo a URL: it may hold a webhook token.
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return self.wrong(
                where, key, 'a list of URL strings like ["mailto://..."]', value, secret=True
            )
        if not all(v.strip() for v in value):
            self.report(where, key, f"{where.keys}{key} has an empty URL (remove it)")
            return BAD
        return tuple(value)

    def _events(self, where: _Where, key: str, value: Any) -> Any:
        accepted = ", ".join(ON_EVENTS)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return self.wrong(where, key, f"a list of events from: {accepted}", value)
        bad = [v for v in value if v not in ON_EVENTS]
        for event in bad:
            hint = did_you_mean(event, ON_EVENTS)
            self.report(where, key, f'{where.keys}{key}: "{event}" is not one of {accepted}{hint}')
        return BAD if bad else tuple(AlertEvent(v) for v in dict.fromkeys(value))


_JOB = Job(name="")


def _retry_policy(chosen: dict[str, Any]) -> RetryPolicy:
    """The policy of the RETRY_KEYS values a job ends up with (None: not set anywhere)."""
    default = _JOB.retry

    def get(key: str, fallback: Any) -> Any:
        return fallback if chosen[key] is None else chosen[key]

    return RetryPolicy(
        retries=get("retries", default.retries),
        delay=get("retry_delay", default.delay),
        backoff=get("retry_backoff", default.backoff),
        max_delay=get("retry_max_delay", default.max_delay),
    )
