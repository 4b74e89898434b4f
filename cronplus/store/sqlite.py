"""The SQLite connection layer: connect, PRAGMAs, the WAL wait, transactions, and
sqlite3's errors as `StateError`. The queries are in `_sql.py`.

One connection per store, shared by the daemon's threads under a lock; other
processes (`status`, `trigger`) open their own and meet it through WAL.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from cronplus.errors import StateError
from cronplus.store._sql import SqlStore
from cronplus.store.schema import SCHEMA_VERSION, migrate

_BUSY_MS = 10_000  # how long a process waits for another one's write lock
_WAL_POLL_S = 0.005
_WAL_TRIES = int(_BUSY_MS / 1000 / _WAL_POLL_S)  # about as long, counted, not timed


def _pragmas(conn: sqlite3.Connection) -> None:
    # WAL: the daemon writes while `status`, `trigger` and `backfill` read and write.
    # Switching a new file to WAL needs it alone, and SQLite answers "locked" at once
    # (no busy handler) while another process is opening it too: wait for it here.
    for tries_left in range(_WAL_TRIES, -1, -1):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or not tries_left:
                raise
            time.sleep(_WAL_POLL_S)
    # Another process holding the write lock makes us wait, not fail (writes are tiny).
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
    # NORMAL in WAL mode: a commit survives the crash of any process (the daemon being
    # SIGKILLed included); only a power loss can drop the last commits, never corrupt.
    # FULL would fsync before every job start and cost milliseconds of start lateness.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")


def _open_readonly(where: str) -> tuple[sqlite3.Connection, bool]:
    """A connection that never writes. SQLite needs the WAL's shared-memory file to
    read a WAL database; where it cannot make one (a read-only folder) and no WAL
    exists, the main file alone holds every commit, and `immutable` reads it so,
    without locks (True in the answer)."""
    from urllib.parse import quote

    uri = f"file:{quote(where)}"
    unlocked = False
    try:
        conn = sqlite3.connect(
            f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.OperationalError as e:
        if os.path.exists(where + "-wal"):
            raise StateError(
                f"cannot read the state at {where} ({e}): it is read-only here, and the "
                "commits in its write-ahead log need a shared-memory file this user "
                "cannot make; read it as its owner, or once its daemon has stopped"
            ) from e
        conn = sqlite3.connect(
            f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False
        )
        unlocked = True
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        if version > SCHEMA_VERSION:
            migrate(conn, where)  # raises: written by a newer cronplus
        conn.close()
        raise OlderStateError(where, version)
    return conn, unlocked


class OlderStateError(StateError):
    """A read-only open met a state an older cronplus wrote; reading it needs an upgrade."""

    def __init__(self, where: str, version: int) -> None:
        self.version = version
        super().__init__(
            f"state at {where} was written by an older cronplus (schema {version}); "
            "it is upgraded when the daemon (cronplus run) or a command that writes "
            "opens it as its owner"
        )


def _create_owner_only(path: Path | str) -> None:
    """Create the database file owner-only before SQLite does: job output and reasons
    may hold secrets. Never open an existing one here: closing any descriptor of a
    file drops every POSIX lock this process holds on it, the locks SQLite's other
    connections in this process rely on."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process made it first
    os.close(fd)


def _unusable(where: str, e: sqlite3.DatabaseError, *, unlocked: bool = False) -> str:
    """The one-line error for a state database SQLite refuses, with what to do.
    `unlocked`: it was read without locks (read-only, no WAL), so a write by its owner
    meanwhile, not damage, is the likely cause."""
    text = str(e)
    if unlocked:
        return (
            f"the state database {where} changed while it was read ({text}); it is "
            "read-only here and read without locks: try again"
        )
    if "not a database" in text or "malformed" in text:
        return (
            f"the state database {where} is damaged ({text}): move it away to start with "
            f"an empty state, or try `sqlite3 {where} .recover | sqlite3 recovered.db`"
        )
    return f"cannot use the state database {where}: {text}"


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def run(self, sql: str, args: Sequence[object] = ()) -> int:
        return self._conn.execute(sql, args).rowcount

    def insert(self, sql: str, args: Sequence[object] = ()) -> int | None:
        cur = self._conn.execute(sql, args)
        return cur.lastrowid if cur.rowcount == 1 else None

    def one(self, sql: str, args: Sequence[object] = ()) -> sqlite3.Row | None:
        return self._conn.execute(sql, args).fetchone()

    def all(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, args).fetchall()


class SqliteDb:
    """One SQLite file (or `:memory:`), its connection shared by threads under a lock."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        """Open (and migrate) the state database. `readonly` opens it without writing
        anything, for read commands on a state the caller may not write (another
        user's, a read-only mount); it refuses a schema it cannot read."""
        self.where = str(path)
        self._unlocked = False
        try:
            if readonly:
                self._conn, self._unlocked = _open_readonly(self.where)
            else:
                if path != ":memory:" and not os.path.exists(path):
                    _create_owner_only(path)
                self._conn = sqlite3.connect(
                    path, isolation_level=None, check_same_thread=False, timeout=_BUSY_MS / 1000
                )
                _pragmas(self._conn)
                migrate(self._conn, self.where)
        except sqlite3.DatabaseError as e:
            raise StateError(_unusable(self.where, e, unlocked=self._unlocked)) from e
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def tx(self, locked: bool = True) -> Iterator[_SqliteTx]:
        # IMMEDIATE: the write lock from the start, so a read-then-write (an alert's
        # hold, a conditional settle) never meets another writer in between.
        with self._lock, self._unusable_is_a_state_error():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTx(self._conn)
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def now(self) -> datetime:
        from cronplus.clock import system_clock

        return system_clock().now()  # the database is a file on this host: its clock

    def rows(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self._lock, self._unusable_is_a_state_error():
            return self._conn.execute(sql, args).fetchall()

    @contextmanager
    def _unusable_is_a_state_error(self) -> Iterator[None]:
        """A database locked past busy_timeout, a full disk or a read-only file is the
        environment's fault: say so in one line instead of a traceback."""
        try:
            yield
        except sqlite3.DatabaseError as e:
            raise StateError(_unusable(self.where, e, unlocked=self._unlocked)) from e


class SqliteStore(SqlStore):
    """The `Store` in one SQLite file: `_sql.py`'s (and `_sql_files.py`'s) queries over
    a `SqliteDb`."""

    def __init__(self, path: Path | str, *, readonly: bool = False, host: str = "") -> None:
        super().__init__(SqliteDb(path, readonly=readonly), host)
