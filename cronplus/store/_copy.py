"""`cronplus migrate-state` (issue 17): a SQLite state copied whole into a PostgreSQL
database, in one transaction of the target, the source never written.

The copy is generic: every table of the source, each with the columns it has in both
schemas (a column added later to both needs no change here), rows as they are. What
the target's triggers would derive is copied, not derived again (`run_totals` and
`run_recent` already count the copied runs, so the triggers are off during the copy),
and each identity sequence is set past the copied ids, so new runs and alerts never
collide with them. A source table the target lacks is a bug of the schemas, not of
the user: it raises (tests/test_migrate_state.py would fail first).

The source is read in one read transaction (one moment of it, even were a `trigger`
writing to it meanwhile), from a read-only connection; one an older cronplus wrote is
copied with its write-ahead log to a temporary folder and upgraded there.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol, TypeVar

from cronplus.errors import CronplusError, StateError, StateUsageError
from cronplus.paths import StatePaths, read_daemon_pid
from cronplus.procs import host
from cronplus.store._db import Row, Tx, from_db, marks
from cronplus.store.pg_schema import SCHEMA
from cronplus.store.schema import SCHEMA_VERSION
from cronplus.store.sqlite import SqliteDb

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cronplus.store.postgres import PgDb

_BATCH_ROWS = 500  # rows per INSERT (at most _BATCH_VALUES values: PostgreSQL's limit)
_BATCH_VALUES = 60_000
_T = TypeVar("_T")


class _Reader(Protocol):
    def rows(self, sql: str, args: Sequence[object] = ()) -> list[Row]: ...


@dataclass(frozen=True, slots=True)
class Migrated:
    """What `migrate_state` copied: rows per table, and the two states as shown."""

    rows: dict[str, int]
    source: str
    target: str


def migrate_state(source: Path, target: StatePaths) -> Migrated:
    """Copy the SQLite state in the folder `source` into the PostgreSQL database of
    `target.url` (migrated to the current schema first). Refused: a missing source
    (exit 2), a source a daemon holds (exit 1), a target holding runs (exit 2)."""
    from cronplus.store.postgres import PgDb

    assert target.url is not None
    db_path = _source_db(source)
    pg = PgDb(target.url, host=host())
    try:
        rows = copy_state(db_path, pg)
    finally:
        pg.close()
    return Migrated(rows, str(source), pg.where)


def _source_db(source: Path) -> Path:
    paths = StatePaths(source)
    if not source.is_dir():
        raise StateUsageError(
            f"no SQLite state in {source}: no such folder (--from names the folder "
            "holding state.db)"
        )
    if not paths.db.is_file():
        raise StateUsageError(
            f"no SQLite state in {source}: it holds no state.db (--from names the folder "
            "holding state.db)"
        )
    pid = read_daemon_pid(paths)
    if pid is not None:
        who = f" (pid {pid})" if pid else ""
        raise CronplusError(
            f"a cronplus daemon{who} holds the state in {source}: stop it first, so that "
            "nothing is written to it during or after the copy"
        )
    return paths.db


def copy_state(source: Path, pg: PgDb) -> dict[str, int]:
    """Copy every table of the SQLite database `source` into the PostgreSQL `PgDb`
    `pg`, in one transaction (all or nothing); the rows copied per table. The target
    must hold no runs; whatever else it holds (a daemon's meta) is replaced."""
    with _readable(source) as sqlite:
        sqlite.rows("BEGIN")  # one read transaction: the source as of one moment
        try:
            with pg.tx() as tx:
                return _copy_all(sqlite, tx, pg.where)
        finally:
            sqlite.rows("COMMIT")


class _Source:
    """The source database read without writing a byte to its folder: with its
    write-ahead log (and the log's index) there, read-only as any reader (the index is
    no data); with none, `immutable` (no lock file made: the main file holds every
    commit, and no daemon holds the state)."""

    def __init__(self, db: Path) -> None:
        from urllib.parse import quote

        self.where = str(db)
        mode = "mode=ro" if Path(f"{db}-wal").exists() else "immutable=1"
        self._conn = self._guard(
            lambda: sqlite3.connect(
                f"file:{quote(self.where)}?{mode}", uri=True, isolation_level=None
            )
        )
        self._conn.row_factory = sqlite3.Row
        self.version = self.rows("PRAGMA user_version")[0][0]

    def rows(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        return self._guard(lambda: self._conn.execute(sql, args).fetchall())

    def close(self) -> None:
        self._conn.close()

    def _guard(self, read: Callable[[], _T]) -> _T:
        try:
            return read()
        except sqlite3.DatabaseError as e:
            raise StateError(f"cannot read the state database {self.where}: {e}") from None


@contextmanager
def _readable(db: Path) -> Iterator[_Reader]:
    """The source to read, or, written by an older cronplus (or with a write-ahead log
    but no index of it, which a reader would make), a copy of it with its log in a
    temporary folder, upgraded there."""
    if not (Path(f"{db}-wal").exists() and not Path(f"{db}-shm").exists()):
        source = _Source(db)
        try:
            if source.version > SCHEMA_VERSION:
                raise StateError(
                    f"state at {db} was written by a newer cronplus (schema "
                    f"{source.version}; this one knows {SCHEMA_VERSION}): upgrade cronplus"
                )
            if source.version == SCHEMA_VERSION:
                yield source
                return
        finally:
            source.close()
    with tempfile.TemporaryDirectory(prefix="cronplus-migrate-") as tmp:
        copy = Path(tmp) / db.name
        for suffix in ("", "-wal"):
            if Path(f"{db}{suffix}").exists():
                shutil.copyfile(f"{db}{suffix}", f"{copy}{suffix}")
        upgraded = SqliteDb(copy)
        try:
            yield upgraded
        finally:
            upgraded.close()


def _copy_all(sqlite: _Reader, tx: Tx, where: str) -> dict[str, int]:
    count = tx.one(f"SELECT COUNT(*) AS n FROM {_q('runs')}")
    held = count["n"] if count else 0
    if held:
        raise StateUsageError(
            f"the state database {where} already holds {held:,} run{'s' * (held != 1)}: "
            "migrate into an empty one"
        )
    now = tx.one("SELECT clock_timestamp() AS t")["t"]  # type: ignore[index]
    live = [
        r
        for r in tx.all(f"SELECT heartbeat_at, lease_ms FROM {_q('processes')}")
        if now - from_db(r["heartbeat_at"]) <= timedelta(milliseconds=r["lease_ms"])  # type: ignore[operator]
    ]
    if live:
        raise StateUsageError(
            f"the state database {where} is in use by {len(live)} live cronplus process"
            f"{'es' * (len(live) != 1)} (cronplus status --daemons): stop them, and"
            " migrate into a database no daemon uses yet"
        )
    # Which processes run and which daemon fires each job are the target's own: a
    # SQLite state's rows of them name processes of a state no longer used.
    source = {t: c for t, c in _source_tables(sqlite).items() if t not in _THE_TARGETS}
    target = _target_columns(tx)
    missing = sorted(set(source) - set(target))
    if missing:
        raise RuntimeError(
            f"the PostgreSQL schema has no table {', '.join(missing)} of the SQLite "
            "schema: add it to store/pg_schema.py"
        )
    order = _parents_first(tx, sorted(source))
    for table in reversed(order):
        tx.run(f"DELETE FROM {_q(table)}")
    copied = {}
    for table in order:
        tx.run(f"ALTER TABLE {_q(table)} DISABLE TRIGGER USER")
        columns = [c for c in target[table] if c in source[table]]
        copied[table] = _copy_table(sqlite, tx, table, columns)
        tx.run(f"ALTER TABLE {_q(table)} ENABLE TRIGGER USER")
    _sequences_past_copied_ids(tx)
    return copied


_THE_TARGETS = ("processes", "job_owners")


def _q(table: str) -> str:
    return f'{SCHEMA}."{table}"'


def _source_tables(sqlite: _Reader) -> dict[str, set[str]]:
    names = sqlite.rows(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    return {
        r["name"]: {c["name"] for c in sqlite.rows(f'PRAGMA table_info("{r["name"]}")')}
        for r in names
    }


def _target_columns(tx: Tx) -> dict[str, list[str]]:
    rows = tx.all(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = ? AND table_name <> 'schema_migrations'"
        " ORDER BY table_name, ordinal_position",
        (SCHEMA,),
    )
    columns: dict[str, list[str]] = {}
    for r in rows:
        columns.setdefault(r["table_name"], []).append(r["column_name"])
    return columns


def _parents_first(tx: Tx, tables: list[str]) -> list[str]:
    """The tables ordered so that a table a foreign key refers to comes before the
    tables referring to it."""
    refs = tx.all(
        "SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent"
        " FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
        " WHERE c.contype = 'f' AND n.nspname = ?",
        (SCHEMA,),
    )
    parents: dict[str, set[str]] = {t: set() for t in tables}
    for r in refs:
        child, parent = (_bare(r["child"]), _bare(r["parent"]))
        if child in parents and parent != child:
            parents[child].add(parent)
    order: list[str] = []
    while len(order) < len(tables):
        ready = [t for t in tables if t not in order and parents[t] <= set(order)]
        order += ready or [t for t in tables if t not in order]  # a cycle: as they come
    return order


def _bare(name: str) -> str:
    """`cronplus.runs` (regclass's text, qualified or not) as `runs`."""
    return name.rsplit(".", 1)[-1].strip('"')


def _copy_table(sqlite: _Reader, tx: Tx, table: str, columns: list[str]) -> int:
    """The table's rows in batches in the order of its key (its primary key, else its
    rowid: many tables have no rowid), each batch one multi-row INSERT; the number of
    rows."""
    key = _key(sqlite, table)
    keys = ", ".join(f"{k} AS key{i}_" for i, k in enumerate(key))
    after = f"({', '.join(key)}) > ({marks(len(key))})"
    names = ", ".join(f'"{c}"' for c in columns)
    per_batch = max(1, min(_BATCH_ROWS, _BATCH_VALUES // max(1, len(columns))))
    copied, last = 0, None
    while True:
        batch = sqlite.rows(
            f'SELECT {keys}, {names} FROM "{table}"{"" if last is None else " WHERE " + after}'
            f" ORDER BY {', '.join(f'key{i}_' for i in range(len(key)))} LIMIT {per_batch}",
            last or (),
        )
        if not batch:
            return copied
        _insert(tx, table, names, columns, batch)
        copied += len(batch)
        last = tuple(batch[-1][f"key{i}_"] for i in range(len(key)))


def _key(sqlite: _Reader, table: str) -> list[str]:
    """The table's primary key columns in order, quoted, or its rowid."""
    info = sqlite.rows(f'PRAGMA table_info("{table}")')
    primary = sorted((c["pk"], c["name"]) for c in info if c["pk"])
    return [f'"{name}"' for _, name in primary] or ["rowid"]


def _insert(tx: Tx, table: str, names: str, columns: list[str], batch: list[Row]) -> None:
    one = "(" + ", ".join("?" * len(columns)) + ")"
    values = [row[c] for row in batch for c in columns]
    tx.run(f"INSERT INTO {_q(table)} ({names}) VALUES {', '.join([one] * len(batch))}", values)


def _sequences_past_copied_ids(tx: Tx) -> None:
    """Each identity column's next value past the highest id copied (1 for none)."""
    for r in tx.all(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = ? AND is_identity = 'YES'",
        (SCHEMA,),
    ):
        table, column = r["table_name"], r["column_name"]
        tx.one(
            f'SELECT setval(pg_get_serial_sequence(?, ?), COALESCE(MAX("{column}"), 0) + 1,'
            f" false) AS v FROM {_q(table)}",
            (f'{SCHEMA}."{table}"', column),
        )
