"""What the store's queries need of a backend's connection layer, and how times are
kept in the database (text in UTC, fixed width), shared by every SQL module."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

Row = Mapping[str, Any]


class Tx(Protocol):
    """The statements of one transaction."""

    def run(self, sql: str, args: Sequence[object] = ()) -> int:
        """Execute; the number of rows it changed."""
        ...

    def insert(self, sql: str, args: Sequence[object] = ()) -> int | None:
        """Insert one row into a table with an `id` key: its id, or None when an
        `ON CONFLICT DO NOTHING` left it out."""
        ...

    def one(self, sql: str, args: Sequence[object] = ()) -> Row | None: ...

    def all(self, sql: str, args: Sequence[object] = ()) -> list[Row]: ...


class Db(Protocol):
    """A backend's connection layer."""

    def tx(self, locked: bool = True) -> AbstractContextManager[Tx]:
        """One transaction holding the write lock from its start: committed when the
        block ends, rolled back when it raises. `locked=False` (a backend may take no
        write lock for it, as PostgreSQL does not): for a run's own writes, each a
        unique-key insert or a write to the rows of that run, whose conditions one
        statement checks, which row locks keep right beside any other writer."""
        ...

    def rows(self, sql: str, args: Sequence[object] = ()) -> list[Row]: ...

    def now(self) -> datetime:
        """The database's clock, UTC (SQLite's is this host's)."""
        ...

    def close(self) -> None: ...


def to_db(t: datetime) -> str:
    """UTC with fixed width, so that text order in SQL is time order."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_db(s: str | None) -> datetime | None:
    if s is None:
        return None
    # fromisoformat reads the trailing Z (3.11+) and is ~30x quicker than strptime.
    return datetime.fromisoformat(s)


def marks(n: int) -> str:
    return ",".join("?" * n)
