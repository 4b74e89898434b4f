"""The state directory: where it is, what it holds, and that only its owner can read it.

Job output can hold secrets, so the directory is 0700 and every file in it 0600.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from cronplus.errors import StateError, StateUsageError
from cronplus.procs import host

STATE_ENV = "CRONPLUS_STATE"
DEFAULT_STATE_DIRNAME = ".cronplus"
_HOST_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")  # a host name in a file's name


class _Under:
    """A path inside the state directory, read as an attribute: `paths.db`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, paths: StatePaths, owner: type | None = None) -> Path:
        return paths.root / self.name


class _PerHost(_Under):
    """A daemon's file: with a PostgreSQL state, one per host name (`daemon.web1.lock`),
    as daemons under several CRONPLUS_HOST names may share one machine and jobs folder
    (issue 17); a SQLite state has one daemon, and one file (`daemon.lock`)."""

    def __get__(self, paths: StatePaths, owner: type | None = None) -> Path:
        if paths.url is None:
            return paths.root / self.name
        stem, suffix = self.name.split(".")
        name = host()
        safe = _HOST_UNSAFE.sub("_", name)[:64]
        if safe != name:  # two names made the same by it keep files of their own
            import hashlib

            safe += "-" + hashlib.blake2b(name.encode(), digest_size=4).hexdigest()
        return paths.root / f"{stem}.{safe}.{suffix}"


@dataclass(frozen=True, slots=True)
class StatePaths:
    """Where the state is: a folder holding `state.db`, or, with `url`, a PostgreSQL
    database; `root` then holds only this host's logs and its daemons' locks."""

    root: Path
    url: str | None = None  # postgresql://…, expanded: it may hold a password

    db = _Under("state.db")
    logs = _Under("logs")
    lock = _PerHost("daemon.lock")
    pidfile = _PerHost("daemon.pid")

    def attempt_log(self, job: str, run_id: int, attempt: int) -> Path:
        return self.logs / job / f"{run_id}-{attempt}.log"

    @property
    def shown(self) -> str:
        """The state as messages name it: the folder, or the URL without its password."""
        if self.url is None:
            return str(self.root)
        from cronplus.store.postgres import shown_url

        return shown_url(self.url)

    def __repr__(self) -> str:  # a stray print or traceback must not show the password
        return f"StatePaths({str(self.root)!r}, {self.shown!r})"

    def check_kinds(self) -> None:
        """A state directory that is a file, or a state.db that is not one, is a mistake
        in the options or the folder: say which, before SQLite or mkdir fail on it."""
        try:
            root = os.stat(self.root)
        except FileNotFoundError:
            return
        except OSError as e:
            raise StateError(f"cannot use {self.root} as a state directory: {e.strerror}") from None
        if not stat.S_ISDIR(root.st_mode):
            raise StateUsageError(
                f"the state directory {self.root} is not a directory "
                "(--state, CRONPLUS_STATE and [defaults].state name a folder, not a file)"
            )
        try:
            db = os.stat(self.db)
        except OSError:
            return
        if not stat.S_ISREG(db.st_mode):
            raise StateUsageError(
                f"{self.db} is not a regular file: move it away, or choose another state "
                "directory with --state"
            )

    def create(self) -> None:
        """Make the directory tree owner-only; tightening modes a user loosened by mistake."""
        self.check_kinds()
        for d in (self.root, self.logs):
            try:
                d.mkdir(mode=0o700, parents=True, exist_ok=True)
                if d.stat().st_mode & 0o077:
                    d.chmod(0o700)
            except OSError as e:
                raise StateError(
                    f"cannot use {d} as a state directory: {e.strerror}"
                    " (choose another with --state or CRONPLUS_STATE)"
                ) from None


def is_state_url(state: str | None) -> bool:
    return bool(state) and state.startswith(("postgresql://", "postgres://"))


def resolve_state_dir(option: str | None, config_state: str | None, config_dir: Path) -> StatePaths:
    """Option, then environment, then `[defaults].state`, then `.cronplus/` beside the
    jobs file. A PostgreSQL URL (`${NAME}` in it expanded) keeps the logs and the
    daemon's lock in `.cronplus/` beside the jobs file."""
    chosen = option or os.environ.get(STATE_ENV) or config_state
    chosen_by_file = chosen is config_state  # relative to the jobs file (else: the cwd)
    local = (config_dir / DEFAULT_STATE_DIRNAME).absolute()
    if chosen and "${" in chosen:  # `state = "${DB_URL}"`: the whole URL in a variable
        chosen = _expand(chosen)
    if is_state_url(chosen):
        return StatePaths(local, url=chosen)
    if chosen:
        path = Path(chosen).expanduser()
        if chosen_by_file:  # a folder in a variable of [defaults].state: beside the file
            path = config_dir / path
        return StatePaths(path.absolute())
    return StatePaths(local)


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(url: str) -> str:
    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise StateUsageError(
                f"the state URL uses ${{{name}}}, which is not set: set {name} in the "
                "environment of every cronplus command, or write the URL without it"
            )
        return os.environ[name]

    return _VAR.sub(value, url)


def owner_only_file(path: Path) -> None:
    """Create `path` (if missing) readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def read_daemon_pid(paths: StatePaths) -> int | None:
    """The pid of the daemon holding the state (0 if it cannot be read), or None.

    Probes the lock with fcntl directly (filelock costs ~45 ms of import, and
    `status` must stay quick): a lock someone holds means a live daemon.
    """
    import fcntl

    try:
        fd = os.open(paths.lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            try:
                return int(paths.pidfile.read_text().strip())
            except (OSError, ValueError):
                return 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
