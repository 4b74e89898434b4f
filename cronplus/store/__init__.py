"""Where runs are kept. All SQL lives in this package; callers speak the domain.

The contract (implemented by `SqliteStore`; PostgreSQL comes later):
- `claim_run(job, scheduled_for, trigger, status=, reason=)` -> Run | None: records the
  run for a logical time, or returns None when one exists. At most once, whoever asks.
- `reopen_run(run_id, allowed, status=)` -> Run | None: takes a recorded run back to run
  it again (backfill), or None when someone else took it first.
- `begin_attempt`, `set_attempt_pid`, `finish_attempt(waiting=)`, `finish_run(last_attempt=)`:
  the life of a claimed run, each one transaction, written before and after the process.
- `get_run`, `find_run`, `latest_run`, `runs_between`, `history`, `succeeded_jobs`,
  `unfinished_runs`: reads that return model objects.
"""

from __future__ import annotations

import os

from cronplus.errors import StateError
from cronplus.paths import StatePaths, read_daemon_pid
from cronplus.store.sqlite import OlderStateError, SqliteStore

Store = SqliteStore


def open_store(paths: StatePaths, *, create: bool = True) -> Store:
    """Open the state to write it (`create`: making it when missing), or, with
    create=False, only to read it: a missing state reads as an empty one, and one the
    caller cannot write (another user's, a read-only mount) is opened read-only.
    Nothing is written to disk when create=False, unless the schema needs upgrading,
    the caller may write, and no daemon holds the state."""
    paths.check_kinds()
    if create:
        if not paths.db.exists():
            paths.create()
        _writable_or_fail(paths)
        return SqliteStore(paths.db)
    if not paths.db.exists():
        return SqliteStore(":memory:")
    if paths.db.stat().st_size == 0:
        return SqliteStore(":memory:")  # created, never written: a fresh state
    try:
        return SqliteStore(paths.db, readonly=True)
    except OlderStateError:
        # Upgrading writes: only when the caller may, and no daemon (perhaps the older
        # cronplus that wrote it, which could not open it any more) holds the state.
        if not _writable(paths) or read_daemon_pid(paths) is not None:
            raise
    return SqliteStore(paths.db)


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
