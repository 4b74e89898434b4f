"""The PostgreSQL connection layer: connect, the schema `cronplus` and its migrations,
transactions, and psycopg's errors as `StateError`. The queries are `_sql.py`'s, the
same as SQLite's.

The password (in the URL, `PGPASSWORD` or `~/.pgpass`) is never shown: a state URL is
shown as `postgresql://user@host:port/db` (`shown_url`), and libpq's messages, which
never quote it, are the only text of a connection error.

Each writing transaction first takes one transaction-level advisory lock, so writers
meet one at a time, as SQLite's `BEGIN IMMEDIATE` makes them: every read-then-write of
`_sql.py` (an alert's hold, a pool's slots, a resume) holds across processes and hosts
exactly as it does on one machine. A run's own writes (its claim, its attempts, its
end) take none (`tx(locked=False)`): each is a unique-key insert or a conditional
write of that run's rows, which row locks keep right, so the hot path of a busy
daemon does not queue behind every other writer. Reads take no lock. No session state is
kept (the search path is set per transaction), so a transaction-mode pooler may sit
between the daemons and the server.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from cronplus.errors import StateError, StateUnreachableError, StateUsageError
from cronplus.store._sql import SqlStore
from cronplus.store.pg_schema import MIGRATIONS, SCHEMA, SCHEMA_VERSION

# pg_advisory_xact_lock keys: one for writers, one for migrations ("cronplus" in ASCII).
WRITE_LOCK = 0x63726F6E706C7573
MIGRATE_LOCK = WRITE_LOCK + 1
# Per transaction, not per session (a transaction-mode pooler may be in between): the
# schema, and a bound on any statement, so a server that stopped answering cannot hold
# a daemon's threads (and its stop) for ever.
_BEGIN = (
    f"SELECT set_config('search_path', '{SCHEMA}', true),"
    " set_config('statement_timeout', '30s', true)"
)
# A connection whose server or network went silent is noticed within seconds.
_ALIVE = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 15000,
}
_CONNECT_TIMEOUT_S = 10
_RECONNECT_TIMEOUT_S = 2  # a daemon's step waits on it: the engine tries again later
_POOL = 3  # connections at most: the main thread's, and those the others share


def shown_url(url: str) -> str:
    """`postgresql://user@host:port/db`: what is shown of a state URL, never a password."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - an unreadable URL still must not be shown whole
        return "postgresql://(unreadable URL)"
    import getpass
    import os

    user = parts.get("user") or os.environ.get("PGUSER") or getpass.getuser()
    host = parts.get("host") or os.environ.get("PGHOST") or "localhost"
    port = parts.get("port") or os.environ.get("PGPORT") or "5432"
    db = parts.get("dbname") or os.environ.get("PGDATABASE") or user
    return f"postgresql://{user}@{host}:{port}/{db}"


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StateUsageError(
            "a PostgreSQL state needs psycopg: pip install 'cronplus[postgres]'"
        ) from None
    return psycopg


_SPELLINGS = (
    (re.compile(r" IS \?"), " IS NOT DISTINCT FROM ?"),  # a value that may be NULL
    (re.compile(r" IS NOT \("), " IS DISTINCT FROM ("),  # a subquery that may be NULL
    (re.compile(r"\bAND \+"), "AND "),  # SQLite's "use no index for this column"
)


@functools.lru_cache(maxsize=512)
def _translate(sql: str) -> str:
    """SQLite's spelling of the shared SQL as PostgreSQL reads it (`_SPELLINGS`), with
    parameters as `%s`."""
    for pattern, spelling in _SPELLINGS:
        sql = pattern.sub(spelling, sql)
    return sql.replace("?", "%s")


def _args(args: Sequence[object]) -> Sequence[object]:
    """SQLite keeps booleans as 0/1 in INTEGER columns, and so do these tables; text
    cannot hold NUL in PostgreSQL (a job's output may): it is kept as U+FFFD."""
    return [
        int(a) if isinstance(a, bool) else a.replace("\0", "\ufffd") if isinstance(a, str) else a
        for a in args
    ]


class _Row(dict):
    """A row read by column name, as `_sql.py` reads them (and by position)."""

    def __getitem__(self, key: object) -> Any:
        if isinstance(key, int):
            return list(self.values())[key]
        return super().__getitem__(key)

    def keys(self):  # noqa: ANN201 - dict's own
        return super().keys()


def _row_factory(cursor: Any) -> Any:
    names = [c.name for c in cursor.description or ()]

    def make(values: Sequence[Any]) -> _Row:
        return _Row(zip(names, values, strict=True))

    return make


class _PgTx:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def run(self, sql: str, args: Sequence[object] = ()) -> int:
        return self._conn.execute(_translate(sql), _args(args)).rowcount

    def insert(self, sql: str, args: Sequence[object] = ()) -> int | None:
        row = self._conn.execute(_translate(sql) + " RETURNING id", _args(args)).fetchone()
        return None if row is None else row["id"]

    def one(self, sql: str, args: Sequence[object] = ()) -> _Row | None:
        return self._conn.execute(_translate(sql), _args(args)).fetchone()

    def all(self, sql: str, args: Sequence[object] = ()) -> list[_Row]:
        return self._conn.execute(_translate(sql), _args(args)).fetchall()


class PgDb:
    """A few connections to the state database, shared by a process's threads: each
    transaction or read holds one (and so does all it calls), so the daemon's engine
    claims while its run threads record their ends. `readonly`: never write (a
    read-only role suffices), nor migrate."""

    def __init__(self, url: str, *, readonly: bool = False, host: str = "") -> None:
        self.where = shown_url(url)
        self._readonly = readonly
        psycopg = _psycopg()
        self._errors = psycopg.Error
        self._lost = psycopg.OperationalError
        self._url = url  # kept to connect again; never shown (`where` is)
        _readable_or_fail(url)
        self._cond = threading.Condition()
        self._idle: list[Any] = []  # the other threads' connections none holds
        self._main: Any = self._connect(_CONNECT_TIMEOUT_S)  # the main thread's
        self._made = 1  # connections open, idle or held
        self._closing = False
        self._held = threading.local()  # .conn: the connection this thread holds
        try:
            self.version = self._version()
            if self.version > SCHEMA_VERSION:
                raise StateError(
                    f"the state database {self.where} was written by a newer cronplus "
                    f"(schema {self.version}; this one knows {SCHEMA_VERSION}): upgrade cronplus"
                )
            if self.version < SCHEMA_VERSION and not readonly:
                self._migrate(host)
        except BaseException:
            self.close()
            raise

    @property
    def _conn(self) -> Any:
        return self._held.conn

    def _take(self) -> Any:
        """A connection for this thread: the main thread (the daemon's engine, a
        command's only thread) has one of its own, so the engine never waits behind the
        run threads' writes for one; the others share the rest of the pool."""
        main = threading.current_thread() is threading.main_thread()
        with self._cond:
            while not main and not self._idle and self._made >= _POOL:
                self._cond.wait()
            if main:
                conn, self._main = self._main, None
            else:
                conn = self._idle.pop() if self._idle else None
            self._made += conn is None
        if conn is None or conn.closed or conn.broken:  # new, or lost: connect (again)
            try:
                conn = self._connect(_RECONNECT_TIMEOUT_S)
            except BaseException:
                with self._cond:
                    self._made -= 1
                    self._cond.notify()
                raise
        return conn

    def _give(self, conn: Any) -> None:
        main = threading.current_thread() is threading.main_thread()
        with self._cond:
            if self._closing or conn.closed or conn.broken:
                conn.close()
                self._made -= 1
            elif main:
                self._main = conn
            else:
                self._idle.append(conn)
            self._cond.notify()

    def _connect(self, timeout: int) -> Any:
        psycopg = _psycopg()
        try:
            return psycopg.connect(
                self._url,
                autocommit=True,
                row_factory=_row_factory,
                connect_timeout=timeout,
                application_name="cronplus",
                **_ALIVE,
            )
        except psycopg.Error as e:
            why = _why(e)
            raise StateUnreachableError(
                f"cannot connect to the state database {self.where}: {why}"
            ) from None

    def _version(self) -> int:
        with self._guard():
            row = self._conn.execute(
                "SELECT to_regclass('cronplus.schema_migrations') IS NOT NULL AS there"
            ).fetchone()
            if not row["there"]:
                return 0
            row = self._conn.execute(
                "SELECT COALESCE(MAX(version), 0) AS v FROM cronplus.schema_migrations"
            ).fetchone()
            return int(row["v"])

    def _migrate(self, host: str) -> None:
        """Each missing migration in one transaction with its record, under an advisory
        lock: daemons starting together apply each once."""
        with self._guard(), self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            self._conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS cronplus.schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), applied_by TEXT NOT NULL)"
            )
            done = self._conn.execute(
                "SELECT COALESCE(MAX(version), 0) AS v FROM cronplus.schema_migrations"
            ).fetchone()["v"]
            for number in range(done + 1, SCHEMA_VERSION + 1):
                name, statements = MIGRATIONS[number - 1]
                for statement in statements:
                    self._conn.execute(statement)
                self._conn.execute(
                    "INSERT INTO cronplus.schema_migrations (version, name, applied_by)"
                    " VALUES (%s, %s, %s)",
                    (number, name, host),
                )
        self.version = SCHEMA_VERSION

    def close(self) -> None:
        with self._cond:
            self._closing = True
            idle, self._idle = self._idle, []
            if self._main is not None:
                idle.append(self._main)
                self._main = None
            self._made -= len(idle)
        for conn in idle:
            conn.close()

    @contextmanager
    def tx(self, locked: bool = True) -> Iterator[_PgTx]:
        if self._readonly:
            raise StateError(f"the state database {self.where} was opened read-only")
        with self._guard():
            conn = self._conn
            # BEGIN and its setting up in one round trip (each is a wait for the GIL
            # again, behind the run threads, in a busy daemon).
            lock = f", pg_advisory_xact_lock({WRITE_LOCK})" if locked else ""
            conn.execute(f"BEGIN; {_BEGIN}{lock}")
            try:
                yield _PgTx(conn)
            except BaseException:
                if not (conn.closed or conn.broken):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def now(self) -> datetime:
        with self._guard():
            now = self._conn.execute("SELECT clock_timestamp() AS now").fetchone()["now"]
        return now.astimezone(UTC)

    def rows(self, sql: str, args: Sequence[object] = ()) -> list[_Row]:
        with self._guard():
            conn = self._conn
            conn.execute(f"BEGIN READ ONLY; {_BEGIN}")
            try:
                return conn.execute(_translate(sql), _args(args)).fetchall()
            finally:
                if not (conn.closed or conn.broken):
                    conn.execute("COMMIT")

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """This thread's connection, held until its outermost use ends (one taken from
        the pool, connected again if it was lost). A lost connection, a full disk or a
        refused statement is the environment's fault: one line naming the database,
        instead of a traceback."""
        if getattr(self._held, "conn", None) is not None:  # within this thread's own use
            yield
            return
        self._held.conn = self._take()
        try:
            yield
        except self._lost as e:
            if not (self._conn.closed or self._conn.broken):  # a deadlock, a timeout
                why = f"cannot use the state database {self.where}: {_why(e)}"
                raise StateError(why) from None
            why = f"cannot reach the state database {self.where}: {_why(e)}"
            raise StateUnreachableError(why) from None
        except self._errors as e:
            raise StateError(f"cannot use the state database {self.where}: {_why(e)}") from None
        finally:
            conn, self._held.conn = self._held.conn, None
            self._give(conn)


def _readable_or_fail(url: str) -> None:
    """A URL libpq cannot parse is the user's mistake: say so without libpq's message,
    which quotes the piece it could not read (the password, say)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - libpq's own error type, whatever its text
        raise StateUsageError(
            "the state URL cannot be read (postgresql://user:password@host:port/db): "
            "percent-encode any '%', '@', ':' or '/' in the user or password (%25, %40, …)"
        ) from None


def _why(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


class PgStore(SqlStore):
    """The `Store` in a PostgreSQL database: `_sql.py`'s queries over a `PgDb`."""

    shared = True  # daemons on several hosts: another host's owner judged by its lease

    def __init__(self, url: str, *, readonly: bool = False, host: str = "") -> None:
        self._pg = PgDb(url, readonly=readonly, host=host)
        super().__init__(self._pg, host)

    @property
    def where(self) -> str:
        return self._pg.where

    @property
    def version(self) -> int:
        return self._pg.version

    @property
    def untouched(self) -> bool:
        return self._pg.version == 0

    @property
    def older(self) -> bool:
        return self._pg.version < SCHEMA_VERSION
