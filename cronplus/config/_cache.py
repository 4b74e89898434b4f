"""A checked jobs file kept for the commands that only read (issue 12).

`status`, `next`, `history`, `logs` and `alerts` load the jobs file on every run;
with 10,000 jobs parsing the TOML and re-running every check was most of a piped
`status`. A file that loaded without a problem is kept here, as the `Config` the
checks built, under a key made of everything that result depends on: the file's
bytes and absolute path, cronplus's version and the size and time of each of its
modules the loader reads, and the environment the loader reads (`TZ` and
/etc/localtime for the system zone, `HOME` for `~` in paths). Any change gives
another key, so an edit is seen whatever the file's size and time.

It lives in `$XDG_CACHE_HOME/cronplus` (else `~/.cache/cronplus`), one file per
jobs file, owner-only, written to a temporary file and renamed. Never needed: a
missing, corrupt, foreign or unreadable entry is read as no entry, and a folder
that cannot be written just means nothing is kept. Not in the state directory:
the state must not gain what a jobs file may hold as secrets (commands, env
values, alert URLs), and it may be a database. `marshal` of plain values, not
pickle: loading a pickle runs code the file names.

What is kept is what the read commands use (`keep`): no command, env value or
alert URL, which may hold a password or a token (the README's guarantee: secrets
reach no output, log or state), and the read commands show none of them. A file
whose `[defaults].state` URL has a password written in it is not kept at all. So that
a hit and a miss look alike, a miss returns the same view.

A file with problems is never kept: its messages, `FILE:LINE:` and all, come from
a fresh load every time. `Config.source` and `alert_env` are not kept either;
the caller sets them on every load.
"""

from __future__ import annotations

import contextlib
import marshal
import os
from dataclasses import fields, replace
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any

try:  # hashlib's import loads OpenSSL: 3 ms of a piped status (issue 12)
    from _blake2 import blake2b
except ImportError:  # not CPython
    from hashlib import blake2b

from cronplus import __version__
from cronplus.model import AlertEvent, AlertsConfig, Catchup, Config, Job, Overlap, RetryPolicy

_FORMAT = 2  # bump when the layout of an entry changes
_PKG = Path(__file__).resolve().parent.parent
_JOB_FIELDS = tuple(f.name for f in fields(Job))
# Fields whose values marshal cannot hold (timedelta, Path, enums, dataclasses): each
# job keeps an index into the entry's table of distinct values instead, which most
# jobs share, so each is rebuilt once per load, not once per job.
_SHARED = ("retry", "timeout", "kill_grace", "expected_duration", "start_grace")
_SHARED += ("overlap", "catchup", "cwd", "alerts")
_SHARED += ("jitter", "deadline")
_SHARED += ("settle", "watch_rescan")
_SHARED_AT = tuple(_JOB_FIELDS.index(name) for name in _SHARED)
_KINDS: dict[str, type] = {
    c.__name__: c for c in (RetryPolicy, AlertsConfig, Overlap, Catchup, AlertEvent)
}


WITHHELD = "(withheld from the read commands)"
_COMMAND_AT, _ENV_AT = _JOB_FIELDS.index("command"), _JOB_FIELDS.index("env")
_STDIN_AT = _JOB_FIELDS.index("stdin")  # crontab `%` text may hold a password, as a command may
_FOR_EACH_AT = _JOB_FIELDS.index("for_each")  # a command too (issue 16)


def cache_dir() -> Path | None:
    """Where entries live; None when no home folder is known."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative value is ignored
        home = os.environ.get("HOME", "")
        if not home:
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "cronplus"


def key_of(text: str, absolute: Path) -> bytes:
    """What a load of `text` at `absolute` depends on, digested."""
    digest = blake2b(digest_size=32)
    for part in (
        str(_FORMAT),
        __version__,
        repr(_code_stamp()),
        str(absolute),
        os.environ.get("TZ", "\0"),
        _link("/etc/localtime"),
        os.environ.get("HOME", "\0"),
        str(os.geteuid()),
    ):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.digest()


def _code_stamp() -> list[tuple[str, int, int]]:
    """Size and time of cronplus's modules the loader may use, so an entry made by
    other code (an upgrade, an edit of an editable install) is not read."""
    out = []
    for folder in (_PKG, _PKG / "config"):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            if e.name.endswith(".py"):
                try:
                    st = e.stat()
                except OSError:
                    continue
                out.append((e.path, st.st_size, st.st_mtime_ns))
    return sorted(out)


def _link(path: str) -> str:
    try:
        return os.path.realpath(path)
    except OSError:
        return "\0"


def _entry_path(absolute: Path) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    name = blake2b(str(absolute).encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()
    return folder / f"config-{name}.marshal"


def load(absolute: Path, key: bytes) -> Config | None:
    """The Config kept for `key`, or None (no entry, or one not to be trusted)."""
    path = _entry_path(absolute)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_uid != os.geteuid() or st.st_mode & 0o077:
                return None  # someone else's, or readable by others: not ours to believe
            data = f.read()
    except OSError:
        return None
    try:
        entry = marshal.loads(data)
        if type(entry) is not tuple or len(entry) != 3 or entry[:2] != (_FORMAT, key):
            return None
        return _decode(entry[2], absolute)
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError):
        return None


def keep(absolute: Path, key: bytes, config: Config) -> Config:
    """Keep `config` for `key` (quietly not, when the folder cannot be written), and
    return what a later `load` gives: `config` without what may be a secret (each
    command, env value and alert URL; a job keeps whether it has a command, and its
    env's names), so that the first load after an edit shows what the next ones do."""
    payload = _encode(config)
    path = _entry_path(absolute)
    if path is not None and _holds_password(config.state):
        with contextlib.suppress(OSError):  # an entry an older cronplus wrote with it
            path.unlink()
    elif path is not None:
        _write(path, marshal.dumps((_FORMAT, key, payload)))
    return _decode(payload, absolute)


def _holds_password(state: str | None) -> bool:
    """Whether `[defaults].state` is a URL with a password written in it (not a
    `${NAME}` taken from the environment): such a file is never kept, as the password
    must reach no file but the jobs file."""
    if not state or "://" not in state:
        return False
    import re
    from urllib.parse import urlsplit  # pathlib imported it already

    try:
        parts = urlsplit(re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", "", state))
        return bool(parts.password) or "password=" in parts.query.lower()
    except ValueError:  # not a URL urllib can read: take no chance
        return True


def _write(path: Path, data: bytes) -> None:
    import tempfile

    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)


# -- the entry: plain values only ------------------------------------------------------


def _encode(config: Config) -> tuple[Any, ...]:
    table: list[Any] = []
    index: dict[tuple[type, Any], int] = {}  # values are hashable: frozen, or plain

    def share(value: Any) -> int:
        if isinstance(value, AlertsConfig):
            value = replace(value, urls=(), heartbeat=None)
        found = index.setdefault((type(value), value), len(table))
        if found == len(table):
            table.append(_plain(value))
        return found

    rows = []
    for job in config.jobs.values():
        row = [getattr(job, name) for name in _JOB_FIELDS]
        for i in _SHARED_AT:
            row[i] = share(row[i])
        row[_COMMAND_AT] = None if job.command is None else WITHHELD
        row[_STDIN_AT] = None if job.stdin is None else WITHHELD
        row[_FOR_EACH_AT] = None if job.for_each is None else WITHHELD
        row[_ENV_AT] = dict.fromkeys(job.env, WITHHELD)
        rows.append(tuple(row))
    head = (config.state, config.max_parallel, share(config.alerts), config.env_file)
    head += (dict(config.pools),)
    return head, tuple(table), tuple(rows)


def _decode(payload: tuple[Any, ...], absolute: Path) -> Config:
    (state, max_parallel, alerts, env_file, pools), table, rows = payload
    values = [_value(v) for v in table]
    jobs = {}
    for row in rows:
        args = list(row)
        for i in _SHARED_AT:
            args[i] = values[args[i]]
        jobs[args[0]] = Job(*args)
    return Config(
        path=absolute,
        jobs=jobs,
        state=state,
        max_parallel=max_parallel,
        alerts=values[alerts],
        env_file=env_file,
        pools=pools,
    )


def _plain(value: Any) -> Any:
    """A shared value as marshal can hold it: a tagged tuple."""
    if value is None:
        return ("none",)
    if isinstance(value, timedelta):
        return ("td", value.days, value.seconds, value.microseconds)
    if isinstance(value, Path):
        return ("path", str(value))
    if isinstance(value, Enum):
        return ("enum", type(value).__name__, value.value)
    if isinstance(value, tuple):
        return ("tuple", tuple(_plain(v) for v in value))
    if isinstance(value, RetryPolicy | AlertsConfig):
        return (
            "dc",
            type(value).__name__,
            tuple(_plain(getattr(value, f.name)) for f in fields(value)),
        )
    return ("is", value)  # str, int, float, bool


def _value(plain: tuple[Any, ...]) -> Any:
    tag = plain[0]
    if tag == "none":
        return None
    if tag == "td":
        return timedelta(plain[1], plain[2], plain[3])
    if tag == "path":
        return Path(plain[1])
    if tag == "enum":
        return _KINDS[plain[1]](plain[2])
    if tag == "tuple":
        return tuple(_value(v) for v in plain[1])
    if tag == "dc":
        return _KINDS[plain[1]](*(_value(v) for v in plain[2]))
    if tag == "is":
        return plain[1]
    raise ValueError(f"unknown tag {tag!r}")
