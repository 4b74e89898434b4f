"""Reading single values of a jobs file: durations, time zones, how a value is shown
in a message, and whether root may trust a file. Below the loader, which uses them."""

from __future__ import annotations

import os
import re
import stat
import zoneinfo
from collections.abc import Mapping
from datetime import date, time, timedelta
from pathlib import Path

_DURATION_RE = re.compile(
    r"(?:(?P<d>\d+(?:\.\d+)?)\s*d)?\s*(?:(?P<h>\d+(?:\.\d+)?)\s*h)?\s*"
    r"(?:(?P<m>\d+(?:\.\d+)?)\s*m)?\s*(?:(?P<s>\d+(?:\.\d+)?)\s*s)?"
)


_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")


_DURATION_HINT = '(write it like "90s", "15m", "1h30m", "2d", or a number of seconds)'


def parse_duration(value: object) -> timedelta:
    """A duration from jobs.toml: "90s", "15m", "1h30m", "1h 30m", "1.5h", "2d", "90" or 90.

    Units are d, h, m, s, each at most once and largest first, so "30m1h" and
    "1m30m" are rejected as the typos they likely are. Raises ValueError with a
    message that starts with the value as written, for config.py to prefix.
    """
    shown = show_value(value)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{shown} is not a duration {_DURATION_HINT}")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("-"):
            raise ValueError(f"{shown} is negative (durations are 0 or more)")
        if _NUMBER_RE.fullmatch(text):
            value = float(text)
        else:
            match = _DURATION_RE.fullmatch(text)
            if not text or match is None or not any(match.groupdict().values()):
                raise ValueError(f"{shown} is not a duration {_DURATION_HINT}")
            parts = {unit: float(n) for unit, n in match.groupdict().items() if n}
            value = (
                parts.get("d", 0) * 86400
                + parts.get("h", 0) * 3600
                + parts.get("m", 0) * 60
                + parts.get("s", 0)
            )
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{shown} is not a duration {_DURATION_HINT}")
    if value < 0:
        raise ValueError(f"{shown} is negative (durations are 0 or more)")
    try:
        return timedelta(seconds=value)
    except OverflowError:
        raise ValueError(f"{shown} is too long (durations stop at 999999999 days)") from None


def system_timezone(
    environ: Mapping[str, str] | None = None, localtime: Path = Path("/etc/localtime")
) -> str:
    """The machine's IANA zone, the default for jobs that name none.

    Order: $TZ if it names a zone (a leading ":" as in POSIX is allowed), else
    the zone that /etc/localtime links to, else "UTC". A POSIX rule string such
    as "CET-1CEST" is not a name, so it is skipped rather than guessed at.
    """
    tz = (os.environ if environ is None else environ).get("TZ", "").strip().removeprefix(":")
    name = _zone_from_path(tz) if tz.startswith("/") else tz
    if name and is_zone(name):
        return name
    name = _zone_from_path(os.path.realpath(localtime))
    if name and is_zone(name):
        return name
    return "UTC"


def _zone_from_path(path: str) -> str | None:
    _, sep, name = path.rpartition("/zoneinfo/")
    if not sep:
        return None
    for prefix in ("posix/", "right/"):
        name = name.removeprefix(prefix)
    return name


def is_zone(name: str) -> bool:
    """Whether zoneinfo can load `name`; far cheaper than listing every zone."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def distrust(st: os.stat_result) -> str | None:
    """Why root must not run what a file says, as cron refuses such crontabs: anyone
    who can write it (group or others, or another owner) could run commands as root.
    None when not running as root, or when the file is root's own and not writable by
    others."""
    if os.geteuid() != 0:
        return None
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid != 0:
        return (
            f"refused: running as root, and the file is owned by uid {st.st_uid}, "
            "not root (chown root it, or run cronplus as its owner)"
        )
    if mode & 0o022:
        return (
            f"refused: running as root, and the file is writable by other users "
            f"(mode {mode:04o}; chmod go-w it)"
        )
    return None


def show_value(value: object, *, secret: bool = False) -> str:
    """A value as TOML would spell it, short; `secret` values (URLs) show only their type."""
    if isinstance(value, str):
        if secret:
            return "a string"
        return f'"{value}"' if len(value) <= 40 else f'"{value[:37]}..."'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, date | time):
        return "a date or time"
    return type(value).__name__
