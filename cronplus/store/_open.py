"""Opening the state: to write it (made when missing), or only to read it (a missing
state reads as empty, one this user cannot write is opened read-only, an older schema
upgraded only when that is safe). Re-exported by `cronplus.store` as `open_store`.

It returns a `SqliteStore`, which callers use as the package's `Store` Protocol: this
module cannot name that type, since the package imports it (no cycle, lazy or
`TYPE_CHECKING` imports included: tests/test_layers.py)."""

from __future__ import annotations

import os

from cronplus.errors import StateError
from cronplus.paths import StatePaths, read_daemon_pid
from cronplus.procs import host
from cronplus.store.sqlite import OlderStateError, SqliteStore


def open_store(paths: StatePaths, *, create: bool = True, upgrade: bool = True) -> SqliteStore:
    """Open the state to write it (`create`: making it when missing), or, with
    create=False, only to read it: a missing state reads as an empty one, and one the
    caller cannot write (another user's, a read-only mount) is opened read-only.
    Nothing is written to disk when create=False, unless the schema needs upgrading,
    `upgrade` allows it, the caller may write, and no daemon holds the state.

    With `paths.url`, the state is a PostgreSQL database (`store/postgres.py`): a
    read-only open never writes, and reads a database cronplus never wrote to as empty."""
    if paths.url is not None:
        return _open_postgres(paths.url, create=create)
    paths.check_kinds()
    if create:
        if not paths.db.exists():
            paths.create()
        _writable_or_fail(paths)
        return SqliteStore(paths.db, host=host())
    if not paths.db.exists():
        return SqliteStore(":memory:")
    if paths.db.stat().st_size == 0:
        return SqliteStore(":memory:")  # created, never written: a fresh state
    try:
        return SqliteStore(paths.db, readonly=True, host=host())
    except OlderStateError:
        # Upgrading writes: only when the caller may, and no daemon (perhaps the older
        # cronplus that wrote it, which could not open it any more) holds the state.
        if not upgrade or not _writable(paths) or read_daemon_pid(paths) is not None:
            raise
    return SqliteStore(paths.db, host=host())


def _writable(paths: StatePaths) -> bool:
    return os.access(paths.root, os.W_OK) and (
        not paths.db.exists() or os.access(paths.db, os.W_OK)
    )


def _writable_or_fail(paths: StatePaths) -> None:
    if not _writable(paths):
        raise StateError(
            f"cannot write the state in {paths.root}: it is read-only to this user "
            "(run as the state's owner, or choose another state with --state)"
        )


def _open_postgres(url: str, *, create: bool) -> SqliteStore:
    from cronplus.store.postgres import PgStore

    if create:
        return PgStore(url, host=host())  # type: ignore[return-value]
    store = PgStore(url, readonly=True, host=host())
    if store.untouched:
        store.close()
        return SqliteStore(":memory:")  # as a missing SQLite state reads
    if store.older:
        store.close()
        raise OlderStateError(store.where, store.version)
    return store  # type: ignore[return-value]
