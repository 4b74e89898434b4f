"""Checking single values of a jobs file: each check reports what is wrong with a
value on its key's line and returns the value parsed, or BAD. Below the loader,
which walks the file's tables and builds the model. Private to the package."""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from cronplus._toml_lines import KeyLines
from cronplus.config._values import is_zone, parse_duration, show_value
from cronplus.errors import Problem, did_you_mean
from cronplus.model import MIN_LEASE, ON_EVENTS, AlertEvent, Catchup, Config, Overlap

_SIZE = re.compile(r"([0-9]+)\s*([KMGkmg]?)")
MAX_JITTER = timedelta(hours=24)  # a spread, not a schedule: a day at most

ALERTS_KEYS = ("urls", "on", "repeat_after", "timeout", "heartbeat", "heartbeat_every")
JOB_ALERTS_KEYS = ("urls", "on")

_PYTHON = r"[^\W\d]\w*(?:\.[^\W\d]\w*)*:[^\W\d]\w*"  # compiled at first use


class _Bad:
    """Marks a value that was reported as a problem and must not be used."""


BAD = _Bad()


@dataclass(frozen=True, slots=True)
class Where:
    """Which table a value came from, so a problem can be located and labelled."""

    path: tuple[str, ...]  # the table's key path, e.g. ("jobs", "load")
    job: str | None = None
    label: str = ""  # message prefix, e.g. "[defaults] "
    keys: str = ""  # key-name prefix, e.g. "alerts." for a job's alerts table


class Checks:
    """Problems found so far, and a check for each key of a job or [defaults]."""

    def __init__(self, display: str, path: Path, lines: KeyLines) -> None:
        self.display = display
        self.path = path
        self.folder = path.parent
        self.lines = lines
        self.problems: list[Problem] = []
        self.checks: dict[str, Callable[[Where, str, Any], Any]] = {
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
            "stdin": self._string,
            "jitter": self._jitter,
            "user": self._text,
            "max_log_bytes": self._size,
            "alerts": self._job_alerts,
            "state": self._state,
            "max_parallel": lambda w, k, v: self._int(w, k, v, minimum=1),
            "keep_runs": lambda w, k, v: self._int(w, k, v, minimum=0),
            "keep_days": lambda w, k, v: self._int(w, k, v, minimum=0),
            "pool": self._text,
            "pool_slots": lambda w, k, v: self._int(w, k, v, minimum=1),
            "deadline": lambda w, k, v: self._duration(w, k, v, positive=True),
            "for_each": self._text,
            "for_each_max": lambda w, k, v: self._int(w, k, v, minimum=1),
            "item_parallel": lambda w, k, v: self._int(w, k, v, minimum=1),
            "watch": self._text,
            "settle": self._duration,
            "watch_rescan": lambda w, k, v: self._duration(w, k, v, positive=True),
            "max_queued": lambda w, k, v: self._int(w, k, v, minimum=1),
            "max_active": self._max_active,
            "lease": self._lease,
        }
        # The keys of [alerts]; a job's own alerts table may set JOB_ALERTS_KEYS of them.
        self.alert_checks: dict[str, Callable[[Where, str, Any], Any]] = {
            "urls": self._urls,
            "on": self._events,
            "repeat_after": self._duration,
            "timeout": lambda w, k, v: self._duration(w, k, v, positive=True),
            "heartbeat": lambda w, k, v: self._text(w, k, v, secret=True),
            "heartbeat_every": lambda w, k, v: self._duration(w, k, v, positive=True),
        }

    # -- reporting -------------------------------------------------------------

    def report(self, where: Where, key: str | tuple[str, ...] | None, message: str) -> None:
        """Record a problem on the line of `key` in `where`'s table (a tuple for nested keys)."""
        keys = () if key is None else (key,) if isinstance(key, str) else key
        line = self.lines.line_of(*where.path, *keys)
        self.problems.append(Problem(self.display, line, where.job, where.label + message))

    def unknown_key(self, where: Where, key: str, known: tuple[str, ...]) -> None:
        hint = did_you_mean(key, known) or f" (valid keys: {', '.join(sorted(known))})"
        self.report(where, key, f'unknown key "{where.keys}{key}"{hint}')

    def wrong(
        self, where: Where, key: str | tuple[str, ...], expected: str, value: object, **show: bool
    ) -> _Bad:
        name = where.keys + (key if isinstance(key, str) else ".".join(key))
        self.report(where, key, f"{name} must be {expected} (got {show_value(value, **show)})")
        return BAD

    # Each check takes (where, key, value) and returns the parsed value, or BAD after reporting.

    def _string(self, where: Where, key: str, value: Any) -> Any:
        return value if isinstance(value, str) else self.wrong(where, key, "a string", value)

    def _text(self, where: Where, key: str, value: Any, *, secret: bool = False) -> Any:
        if not isinstance(value, str):
            return self.wrong(where, key, "a string", value, secret=secret)
        if not value.strip():
            self.report(where, key, f"{where.keys}{key} is empty (give it a value)")
            return BAD
        if "\0" in value:  # no command line, path or URL can carry one
            self.report(where, key, f"{where.keys}{key} contains a NUL character (remove it)")
            return BAD
        return value

    def _one_of(self, where: Where, key: str, value: Any, modes: type[StrEnum]) -> Any:
        if value in [m.value for m in modes]:
            return modes(value)
        listed = ", ".join(f'"{m}"' for m in modes)
        return self.wrong(where, key, f"one of {listed}", value)

    def _bool(self, where: Where, key: str, value: Any) -> Any:
        return value if isinstance(value, bool) else self.wrong(where, key, "true or false", value)

    def _int(self, where: Where, key: str, value: Any, *, minimum: int) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            return self.wrong(where, key, f"a whole number, {minimum} or more", value)
        return value

    def _size(self, where: Where, key: str, value: Any) -> Any:
        """A byte count: a whole number, or a string of one with K, M or G (1024-based)."""
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        found = _SIZE.fullmatch(value) if isinstance(value, str) else None
        if found is None:
            expected = 'a number of bytes, or a string such as "512K", "10M" or "1G"'
            return self.wrong(where, key, expected, value)
        return int(found[1]) * 1024 ** " KMG".index(found[2].upper() or " ")

    def _backoff(self, where: Where, key: str, value: Any) -> Any:
        # Below 1 each retry would come sooner than the last, which is never what a
        # retry policy means; 1 keeps retry_delay constant.
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not 1 <= value < float("inf"):
            return self.wrong(where, key, "a number, 1 or more", value)
        return float(value)

    def _duration(self, where: Where, key: str, value: Any, *, positive: bool = False) -> Any:
        try:
            parsed = parse_duration(value)
        except ValueError as exc:
            self.report(where, key, f"{where.keys}{key} {exc}")
            return BAD
        if positive and not parsed:
            return self.wrong(where, key, "more than 0", value)
        return parsed

    def _lease(self, where: Where, key: str, value: Any) -> Any:
        parsed = self._duration(where, key, value)
        if parsed is not BAD and parsed < MIN_LEASE:
            return self.wrong(where, key, 'at least "3s"', value)
        return parsed

    def _jitter(self, where: Where, key: str, value: Any) -> Any:
        parsed = self._duration(where, key, value, positive=True)
        if parsed is not BAD and parsed > MAX_JITTER:
            return self.wrong(where, key, 'at most "24h"', value)
        return parsed

    def _schedule(self, where: Where, key: str, value: Any) -> Any:
        from cronplus.schedule import REBOOT, ScheduleError, is_reboot, never_fires, parse_schedule

        if not isinstance(value, str):
            return self.wrong(where, key, 'a cron expression like "0 3 * * *" or "@daily"', value)
        if is_reboot(value):
            return REBOOT
        try:
            parsed = parse_schedule(value)
        except ScheduleError as exc:
            self.report(
                where,
                key,
                f"schedule {show_value(value)}: {exc} (see the README's schedule syntax)",
            )
            return BAD
        if (why := never_fires(parsed)) is not None:
            self.report(
                where,
                key,
                f"schedule {show_value(value)} never fires: {why}"
                " (see the README's schedule syntax)",
            )
            return BAD
        return value

    def _python(self, where: Where, key: str, value: Any) -> Any:
        value = self._text(where, key, value)
        if value is not BAD and not re.fullmatch(_PYTHON, value.strip()):
            self.report(
                where,
                key,
                f'python {show_value(value)} must look like "package.module:function"'
                ' (e.g. "reports.daily:main")',
            )
            return BAD
        return value if value is BAD else value.strip()

    def _after(self, where: Where, key: str, value: Any) -> Any:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return self.wrong(where, key, 'a list of job names like ["extract"]', value)
        return tuple(dict.fromkeys(value))

    def _timezone(self, where: Where, key: str, value: Any) -> Any:
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

    def _env(self, where: Where, key: str, value: Any) -> Any:
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

    def _cwd(self, where: Where, key: str, value: Any) -> Any:
        value = self._text(where, key, value)
        return value if value is BAD else self._resolve(value)

    def _state(self, where: Where, key: str, value: Any) -> Any:
        value = self._text(where, key, value)
        if value is BAD or "://" in value or "${" in value:  # a URL, or one in a variable:
            return value  # used as written (paths.resolve_state_dir expands it)
        return str(self._resolve(value))

    def _path(self, where: Where, key: str, value: Any) -> Any:
        value = self._text(where, key, value)
        return value if value is BAD else str(self._resolve(value))

    def _resolve(self, value: str) -> Path:
        """Relative to the jobs file's folder, not the caller's cwd, so the daemon and CLI agree."""
        return Path(os.path.normpath(self.folder / Path(value).expanduser()))

    def _job_alerts(self, where: Where, key: str, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if not isinstance(value, dict):
            return self.wrong(where, key, "false or a table with urls and/or on", value)
        inner = Where((*where.path, key), job=where.job, label=where.label, keys=f"{key}.")
        values = {}
        for name, item in value.items():
            if name in JOB_ALERTS_KEYS:
                if (parsed := self.alert_checks[name](inner, name, item)) is not BAD:
                    values[name] = parsed
            elif name in ALERTS_KEYS:
                self.report(
                    inner, name, f"{key}.{name} can only be set in [alerts] (move it there)"
                )
            else:
                self.unknown_key(inner, name, JOB_ALERTS_KEYS)
        return values

    def _urls(self, where: Where, key: str, value: Any) -> Any:
        # Never echo a URL: it may hold a webhook token.
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return self.wrong(
                where, key, 'a list of URL strings like ["mailto://..."]', value, secret=True
            )
        if not all(v.strip() for v in value):
            self.report(where, key, f"{where.keys}{key} has an empty URL (remove it)")
            return BAD
        return tuple(value)

    def _events(self, where: Where, key: str, value: Any) -> Any:
        accepted = ", ".join(ON_EVENTS)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return self.wrong(where, key, f"a list of events from: {accepted}", value)
        bad = [v for v in value if v not in ON_EVENTS]
        for event in bad:
            hint = did_you_mean(event, ON_EVENTS)
            self.report(where, key, f'{where.keys}{key}: "{event}" is not one of {accepted}{hint}')
        return BAD if bad else tuple(AlertEvent(v) for v in dict.fromkeys(value))

    def _max_active(self, where: Where, key: str, value: Any) -> Any:
        """issue 17: a cap on the job's attempts at once across every process on the state."""
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            got = f"{where.keys}{key} must be a whole number, 1 or more (got {show_value(value)})"
            do = "write max_active = 1 for one attempt at a time, or remove it for no cap"
            self.report(where, key, f"{got}: {do}")
            return BAD
        return value


def schedule_notes(config: Config, display: str) -> list[Problem]:
    """`validate`'s notes on schedules that are valid but may not mean what their writer
    expects (`*/60` minutes), each on its job's `schedule` line; `display` names the file."""
    from cronplus.schedule import step_notes

    lines = KeyLines(config.source) if config.source is not None else None
    found = []
    for job in config.jobs.values():
        for note in step_notes(job.schedule) if job.schedule else ():
            line = lines.line_of("jobs", job.name, "schedule") if lines else None
            found.append(
                Problem(
                    display, line, job.name, f"note: schedule {show_value(job.schedule)}: {note}"
                )
            )
    return found
